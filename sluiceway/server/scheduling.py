"""When a recurring run fires: pure functions of (its schedule, now, how many of its runs are unfinished).

No clock, no database, no threads: the scheduler (scheduler.py) reads the records and the time,
asks `plan`, and does what it says; the tests ask `plan` directly.

A schedule's times are either a cron expression's, read in an IANA time zone (so "0 9 * * *" in
America/New_York is 9 a.m. there on both sides of a DST change), or a grid of `interval_seconds`
anchored at the start time (or, without one, at the creation time). Every time is kept and
compared in UTC; only cron expressions are evaluated in their zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MAX_FIRINGS_PER_TICK = 10
"""With catch-up, how many missed times one tick fires at most: a long outage is caught up over a few ticks, and a
tick never holds the scheduler for long."""
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Schedule:
    """What decides a recurring run's times: exactly one of `cron` (with `timezone`) and `interval_seconds`."""

    cron: str | None
    timezone: str
    interval_seconds: int | None
    anchor: datetime
    """Where an interval's grid starts: the start time, or the creation time without one."""
    start_at: datetime | None = None
    end_at: datetime | None = None


@dataclass(frozen=True)
class Plan:
    fire: list[datetime]
    """The scheduled times to make runs for, in order."""
    next_fire_at: datetime | None
    """The next time to consider after those; None once the schedule has ended."""


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a cron expression (five fields, or six with seconds), or None if it is one."""
    if not croniter.is_valid(expression):
        return f"{expression!r} is not a cron expression (e.g. '0 9 * * 1-5': minute hour day-of-month month day-of-week)"
    return None


def timezone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone, or None if it is one."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Berlin', 'America/New_York')"
    return None


def at_or_after(schedule: Schedule, moment: datetime) -> datetime:
    """The schedule's first time at or after `moment` (ignoring its start and end), in UTC."""
    if schedule.interval_seconds is not None:
        step = timedelta(seconds=schedule.interval_seconds)
        steps = max(0, math.ceil((moment - schedule.anchor) / step))
        return schedule.anchor + steps * step
    assert schedule.cron is not None
    # croniter answers strictly after its start, at whole seconds: starting a microsecond early includes `moment` itself.
    local = (moment - _TICK).astimezone(ZoneInfo(schedule.timezone))
    found: datetime = croniter(schedule.cron, local).get_next(datetime)
    return found.astimezone(timezone.utc)


def after(schedule: Schedule, moment: datetime) -> datetime:
    """The schedule's first time strictly after `moment`."""
    return at_or_after(schedule, moment + _TICK)


def _within_end(schedule: Schedule, moment: datetime) -> datetime | None:
    return moment if schedule.end_at is None or moment <= schedule.end_at else None


def first_time(schedule: Schedule, now: datetime) -> datetime | None:
    """Where a new recurring run starts: its start time's first scheduled time (possibly in the past: catch-up then
    makes up for it), else the first after now; None if that is past the end."""
    if schedule.start_at is not None:
        return _within_end(schedule, at_or_after(schedule, schedule.start_at))
    return _within_end(schedule, after(schedule, now))


def time_after_enabling(schedule: Schedule, now: datetime) -> datetime | None:
    """Where an enabled-again recurring run goes on: the first time after now (not before its start). What was due while
    it was disabled is not made up for, even with catch-up: disabling means no runs meanwhile."""
    moment = now + _TICK
    if schedule.start_at is not None and schedule.start_at > moment:
        moment = schedule.start_at
    return _within_end(schedule, at_or_after(schedule, moment))


def plan(
    schedule: Schedule,
    next_fire_at: datetime | None,
    now: datetime,
    *,
    catch_up: bool,
    max_concurrency: int,
    active: int,
) -> Plan | None:
    """What to do now for an enabled recurring run whose next time is `next_fire_at` and that has `active` unfinished runs;
    None for nothing (not due, ended, or held back by `max_concurrency`: tried again next tick, nothing skipped)."""
    if next_fire_at is None or next_fire_at > now or active >= max_concurrency:
        return None
    if not catch_up:  # only the latest due time fires; the ones before it are skipped
        latest = _latest_due(schedule, next_fire_at, now)
        return Plan([latest], _within_end(schedule, after(schedule, latest)))
    room = min(max_concurrency - active, MAX_FIRINGS_PER_TICK)
    fire: list[datetime] = []
    moment: datetime | None = next_fire_at
    while moment is not None and moment <= now and len(fire) < room:
        fire.append(moment)
        moment = _within_end(schedule, after(schedule, moment))
    return Plan(fire, moment)


def _latest_due(schedule: Schedule, next_fire_at: datetime, now: datetime) -> datetime:
    """The last scheduled time at or before `now` (and the end), from `next_fire_at` on (itself due)."""
    limit = now if schedule.end_at is None else min(now, schedule.end_at)
    if limit < next_fire_at:  # due, but only times past the end remain after it
        return next_fire_at
    if schedule.interval_seconds is not None:
        step = timedelta(seconds=schedule.interval_seconds)
        return next_fire_at + ((limit - next_fire_at) // step) * step
    assert schedule.cron is not None
    # croniter answers strictly before its start, at whole seconds: a second later includes `limit` itself. Asked
    # backwards, not walked forwards, so a long outage of a per-minute schedule costs one step, not thousands.
    local = (limit + timedelta(seconds=1)).astimezone(ZoneInfo(schedule.timezone))
    found: datetime = croniter(schedule.cron, local).get_prev(datetime)
    return max(next_fire_at, found.astimezone(timezone.utc))
