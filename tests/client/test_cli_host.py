"""The CLI against a running server (`--host`, or `client.host` of the configuration): run, runs, experiments, pipelines."""

from __future__ import annotations

import json

from tests.conftest import REPO

QUICKSTART = str(REPO / "tests" / "golden" / "quickstart.yaml")
SLOW = """
from sluiceway import dsl


@dsl.component
def slow(seconds: float) -> float:
    import time

    print("started", flush=True)
    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="slow")
def slow_pipeline(seconds: float = 60.0):
    slow(seconds=seconds)
"""


def test_run_and_runs_commands_work_against_the_server(live_server, cli, tmp_path):
    host = ("--host", live_server.address)
    env = {**live_server.env, "SLUICEWAY_HOME": str(tmp_path / "this-machine")}  # nothing may land on this machine
    ran = cli("run", QUICKSTART, "-p", "size=4", "--experiment", "cli", *host, env=env)
    assert ran.returncode == 0, ran.stderr
    run_id = ran.stdout.split()[1]
    assert ran.stdout.startswith(f"run {run_id} created on {live_server.address}") and f"run {run_id} SUCCEEDED" in ran.stdout

    listed = cli("runs", "list", "--experiment", "cli", "--output", "json", *host, env=env)
    assert [run["id"] for run in json.loads(listed.stdout)] == [run_id]
    shown = cli("runs", "show", run_id, *host, env=env)
    assert shown.returncode == 0 and shown.stdout.startswith(f"run {run_id}: SUCCEEDED (pipeline quickstart")
    task = json.loads(cli("runs", "show", run_id, "--output", "json", *host, env=env).stdout)["tasks"][0]
    one = cli("runs", "show", run_id, "--task", task["task_id"], *host, env=env)
    assert one.returncode == 0 and "attempts: 1" in one.stdout and "cache:" not in one.stdout  # the cache is this machine's
    logs = cli("runs", "logs", run_id, *host, env=env)
    assert logs.returncode == 0 and f"==> {task['task_id']} <==" in logs.stdout
    assert not (tmp_path / "this-machine" / "metadata.db").exists()

    missing = cli("runs", "show", "no-such-run", *host, env=env)
    assert missing.returncode == 1 and missing.stderr == "error: 404 Not Found: no run 'no-such-run'\n"


def test_a_run_is_followed_and_cancelled_through_the_server(live_server, cli, tmp_path):
    source = tmp_path / "slow.py"
    source.write_text(SLOW)
    env = {**live_server.env, "SLUICEWAY_CLIENT__HOST": live_server.address}  # the configuration names the server
    detached = cli("run", str(source), "--detach", env=env)
    assert detached.returncode == 0, detached.stderr
    run_id = detached.stdout.split()[1]
    followed = None
    for _ in range(100):  # the task has started once its log has its first line
        followed = cli("runs", "logs", run_id, "--task", "slow", env=env)
        if "started" in followed.stdout:
            break
    assert followed is not None and followed.stdout == "started\n"
    cancelled = cli("runs", "cancel", run_id, env=env)
    assert cancelled.returncode == 0 and cancelled.stdout == f"cancelling run {run_id} (on {live_server.address})\n"
    assert cli("runs", "logs", run_id, "--task", "slow", "--follow", env=env).stdout == "started\n"  # ends with the task
    again = cli("runs", "cancel", run_id, env=env)
    assert again.returncode == 1 and "409 Conflict" in again.stderr
    settings = cli("runs", "retry", run_id, "--no-cache", env=env)
    assert settings.returncode == 1 and "caching: a server runs with its own settings" in settings.stderr
    missing = cli("runs", "retry", "no-such-run", env=env)  # the server is asked, not this machine
    assert missing.returncode == 1 and missing.stderr == "error: 404 Not Found: no run 'no-such-run'\n"


def test_experiments_and_pipelines_commands(live_server, cli):
    host = ("--host", live_server.address)
    made = cli("experiments", "create", "baseline", "--description", "first tries", *host, env=live_server.env)
    assert made.returncode == 0 and made.stdout.startswith("created experiment baseline (")
    listed = json.loads(cli("experiments", "list", "--filter", 'name = "baseline"', "--output", "json", *host, env=live_server.env).stdout)
    assert [(e["name"], e["archived"]) for e in listed] == [("baseline", False)]
    archived = cli("experiments", "archive", "baseline", *host, env=live_server.env)
    assert archived.returncode == 0 and archived.stdout == f"archived experiment baseline ({listed[0]['id']})\n"
    unknown = cli("experiments", "archive", "nothing", *host, env=live_server.env)
    assert unknown.returncode == 1 and "no experiment 'nothing'" in unknown.stderr

    uploaded = cli("pipelines", "upload", QUICKSTART, "--name", "quick", *host, env=live_server.env)
    assert uploaded.returncode == 0 and uploaded.stdout.startswith("pipeline ")
    assert cli("pipelines", "upload", QUICKSTART, "--name", "quick", *host, env=live_server.env).stdout == uploaded.stdout
    table = cli("pipelines", "list", *host, env=live_server.env)
    assert table.returncode == 0 and " quick " in table.stdout


def test_recurring_runs_commands(live_server, cli):
    host = ("--host", live_server.address)
    made = cli(
        "recurring-runs", "create", "mornings", QUICKSTART, "--cron", "0 9 * * *", "--timezone", "Asia/Tokyo", *host, env=live_server.env
    )
    assert made.returncode == 0 and made.stdout.startswith("created recurring run mornings ("), made.stderr
    listed = json.loads(cli("recurring-runs", "list", "--output", "json", *host, env=live_server.env).stdout)
    assert [(r["name"], r["trigger"]["timezone"], r["enabled"]) for r in listed] == [("mornings", "Asia/Tokyo", True)]
    recurring_id = listed[0]["id"]
    table = cli("recurring-runs", "list", *host, env=live_server.env).stdout
    assert "0 9 * * * Asia/Tokyo" in table and " enabled " in table
    disabled = cli("recurring-runs", "disable", recurring_id, *host, env=live_server.env)
    assert disabled.stdout == f"disabled recurring run mornings ({recurring_id})\n"
    assert cli("recurring-runs", "enable", recurring_id, *host, env=live_server.env).stdout.startswith("enabled recurring run mornings")
    assert cli("recurring-runs", "delete", recurring_id, *host, env=live_server.env).stdout == f"deleted recurring run {recurring_id}\n"
    bad = cli("recurring-runs", "create", "bad", QUICKSTART, "--cron", "at nine", *host, env=live_server.env)
    assert bad.returncode == 1 and "trigger.cron" in bad.stderr


def test_without_a_server_the_commands_say_what_they_need(cli, tmp_path):
    env = {"SLUICEWAY_HOME": str(tmp_path), "SLUICEWAY_CONFIG": ""}
    listed = cli("experiments", "list", env=env)
    assert listed.returncode == 1 and listed.stderr.startswith("error: `sluiceway experiments list` works on a server: give --host URL")
    detached = cli("run", QUICKSTART, "--detach", env=env)
    assert detached.returncode == 1 and "--detach needs a server" in detached.stderr
    namespaced = cli("runs", "list", "--namespace", "team-a", env=env)
    assert namespaced.returncode == 1 and "--namespace needs a server" in namespaced.stderr
    assert cli("runs", "list", env=env).returncode == 0  # this machine's runs, as before
