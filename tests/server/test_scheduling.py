"""When recurring runs fire: `scheduling.plan` and its helpers, as pure functions of (schedule, now, unfinished runs)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sluiceway.server import scheduling
from sluiceway.server.scheduling import MAX_FIRINGS_PER_TICK, Plan, Schedule, plan

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def every(seconds: int, **options: datetime | None) -> Schedule:
    return Schedule(cron=None, timezone="UTC", interval_seconds=seconds, anchor=options.get("start_at") or T0, **options)


def cron(expression: str, zone: str = "UTC", **options: datetime | None) -> Schedule:
    return Schedule(cron=expression, timezone=zone, interval_seconds=None, anchor=T0, **options)


def test_a_cron_schedule_keeps_local_time_across_a_dst_change():
    nine_in_new_york = cron("0 9 * * *", "America/New_York")
    times, moment = [], datetime(2026, 3, 7, tzinfo=UTC)
    for _ in range(3):
        moment = scheduling.after(nine_in_new_york, moment)
        times.append(moment)
    # 9:00 EST is 14:00 UTC; from Sunday 8 March (EDT) it is 13:00 UTC: the day of the change is 23 hours long
    assert times == [datetime(2026, 3, 7, 14, tzinfo=UTC), datetime(2026, 3, 8, 13, tzinfo=UTC), datetime(2026, 3, 9, 13, tzinfo=UTC)]
    assert scheduling.at_or_after(nine_in_new_york, times[1]) == times[1]


def test_a_missed_cron_time_without_catch_up_fires_only_the_latest_local_one_across_dst():
    nine_in_berlin = cron("0 9 * * *", "Europe/Berlin")
    first = datetime(2026, 3, 27, 8, tzinfo=UTC)  # 9:00 CET; Berlin moves to CEST on 29 March
    now = datetime(2026, 3, 30, 12, tzinfo=UTC)
    assert plan(nine_in_berlin, first, now, catch_up=False, max_concurrency=1, active=0) == Plan(
        [datetime(2026, 3, 30, 7, tzinfo=UTC)], datetime(2026, 3, 31, 7, tzinfo=UTC)
    )
    caught_up = plan(nine_in_berlin, first, now, catch_up=True, max_concurrency=10, active=0)
    assert caught_up == Plan(
        [first, datetime(2026, 3, 28, 8, tzinfo=UTC), datetime(2026, 3, 29, 7, tzinfo=UTC), datetime(2026, 3, 30, 7, tzinfo=UTC)],
        datetime(2026, 3, 31, 7, tzinfo=UTC),
    )


def test_an_interval_fires_on_its_grid():
    schedule = every(60)
    assert scheduling.first_time(schedule, T0) == T0 + timedelta(seconds=60)
    assert plan(schedule, T0 + timedelta(seconds=60), T0 + timedelta(seconds=59), catch_up=False, max_concurrency=1, active=0) is None
    due = T0 + timedelta(seconds=60)
    assert plan(schedule, due, due + timedelta(seconds=5), catch_up=False, max_concurrency=1, active=0) == Plan(
        [due], due + timedelta(seconds=60)
    )
    late = due + timedelta(seconds=150)  # 2.5 intervals late: the latest due time is due + 120 s
    assert plan(schedule, due, late, catch_up=False, max_concurrency=1, active=0) == Plan(
        [due + timedelta(seconds=120)], due + timedelta(seconds=180)
    )


def test_catch_up_fires_every_missed_time_in_order_a_bounded_number_per_tick():
    schedule = every(60)
    now = T0 + timedelta(hours=1)
    first = plan(schedule, T0, now, catch_up=True, max_concurrency=100, active=0)
    assert first is not None and first.fire == [T0 + timedelta(minutes=n) for n in range(MAX_FIRINGS_PER_TICK)]
    assert first.next_fire_at == T0 + timedelta(minutes=MAX_FIRINGS_PER_TICK)
    fired = list(first.fire)
    next_time: datetime | None = first.next_fire_at
    while (step := plan(schedule, next_time, now, catch_up=True, max_concurrency=100, active=0)) is not None:
        fired += step.fire
        next_time = step.next_fire_at
    assert fired == [T0 + timedelta(minutes=n) for n in range(61)] and next_time == now + timedelta(minutes=1)


def test_start_and_end_times_bound_the_firings():
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=2)
    schedule = every(60, start_at=start, end_at=end)
    assert scheduling.first_time(schedule, T0) == start  # from its start, not from now
    assert plan(schedule, start, start - timedelta(seconds=1), catch_up=True, max_concurrency=5, active=0) is None
    assert plan(schedule, start, T0 + timedelta(hours=5), catch_up=True, max_concurrency=5, active=0) == Plan(
        [start, start + timedelta(minutes=1), end], None
    )
    assert plan(schedule, start, T0 + timedelta(hours=5), catch_up=False, max_concurrency=5, active=0) == Plan([end], None)
    assert plan(schedule, None, T0 + timedelta(hours=5), catch_up=False, max_concurrency=5, active=0) is None  # ended
    assert scheduling.first_time(every(60, end_at=T0 - timedelta(seconds=1)), T0) is None


@pytest.mark.parametrize("catch_up", [False, True])
def test_max_concurrency_holds_firings_back_without_skipping_them(catch_up):
    schedule, due = every(60), T0 + timedelta(minutes=1)
    now = due + timedelta(minutes=3)
    assert plan(schedule, due, now, catch_up=catch_up, max_concurrency=2, active=2) is None  # next tick tries again
    room = plan(schedule, due, now, catch_up=catch_up, max_concurrency=2, active=1)
    assert room is not None and len(room.fire) == 1
    if catch_up:  # the room left bounds what fires now; the rest waits
        assert plan(schedule, due, now, catch_up=True, max_concurrency=3, active=0) == Plan(
            [due, due + timedelta(minutes=1), due + timedelta(minutes=2)], due + timedelta(minutes=3)
        )


def test_enabling_again_goes_on_after_now_and_not_before_the_start():
    schedule = every(60)
    now = T0 + timedelta(minutes=10, seconds=30)
    assert scheduling.time_after_enabling(schedule, now) == T0 + timedelta(minutes=11)
    assert scheduling.time_after_enabling(schedule, T0 + timedelta(minutes=11)) == T0 + timedelta(minutes=12)  # strictly after
    later = every(60, start_at=T0 + timedelta(days=1))
    assert scheduling.time_after_enabling(later, now) == T0 + timedelta(days=1)


def test_cron_expressions_and_time_zones_are_checked():
    assert scheduling.cron_problem("0 9 * * 1-5") is None
    assert "not a cron expression" in (scheduling.cron_problem("every day at nine") or "")
    assert scheduling.timezone_problem("Europe/Berlin") is None
    assert "not an IANA time zone" in (scheduling.timezone_problem("Mars/Olympus") or "")
    assert "not an IANA time zone" in (scheduling.timezone_problem("../etc/passwd") or "")
