"""`python -m sluiceway.executor --ticket ROOT --instance PATH --retry N --outputs DIR`: a workflow engine's pod.

Argo or Tekton started this pod; Sluiceway's engine decides what it does (sluiceway/core/tickets.py). The executor
waits, under the run's tickets ROOT, for:

- `PATH/N.cancelled.json`: the attempt was cancelled before its pod started: end at once (exit 0);
- `PATH/N.json`: the task spec of the attempt the engine launched: run it, as on any backend;
- `PATH/decided.json`: the engine decided the instance: write its outputs for the workflow engine, exit with its code;
- `G/decided.json` of a group G given with `--within "G1 G2 ..."` (the conditions, loops, exit handlers and nested
  pipelines around the instance) in a final state: the group ended without ever creating this instance (an
  iteration never opened, a handler never entered): end at once (exit 0), as `_ended.json` in ROOT says for the
  whole run; and an exit task ends so when its exit handler (`--handler G`) was decided without being entered.

It reads them with the artifact stores that $SLUICEWAY_TASK_STORES names, and gives up after `--wait-seconds`
(default: a day) with exit status 2, as for an unusable spec. `--driver condition|loop` marks a driver step, which
always leaves its outputs (a branch, the iterations) for the workflow engine.

DIR receives one file per output value, for the engine to show (Argo `valueFrom.path`, Tekton results): the value's
JSON text, or where it is stored when it is spilled, or when the values together would pass `--outputs-limit`
(Tekton's termination message holds 4096 bytes): then the largest are replaced by the result's URI, which holds them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ..core.stores import Stores
from ..core.task_spec import STORES_ENV, StoreRef, TaskResult, TaskSpec, decode_spec
from ..core.tickets import DECIDED, DRIVER_OUTPUTS, RUN_ENDED, Decision, cancelled_ticket_name, try_ticket_name

FIRST_POLL_SECONDS = 0.05
LONGEST_POLL_SECONDS = 2.0
FIRST_WIDER_CHECK_SECONDS = 0.5
WIDER_CHECK_SECONDS = 5.0
"""How often, at the most, the groups around the instance and the run's end are looked at (each a request to the store)."""
DEFAULT_WAIT_SECONDS = 24 * 3600.0
"""Long: a pod may wait for its turn (a loop's parallelism) while the run is followed; a run no longer followed is
ended by `_ended.json`, or else by this."""


class TicketError(Exception):
    """The ticket cannot be had or read: the pod ends as an unusable spec would."""


@dataclass(frozen=True)
class TicketArgs:
    root: str
    instance: str
    native_try: int
    outputs: Path
    within: tuple[str, ...] = ()
    handler: str | None = None
    driver: str | None = None
    outputs_limit: int | None = None
    wait_seconds: float = DEFAULT_WAIT_SECONDS

    @property
    def folder(self) -> str:
        return f"{self.root}/{self.instance}"


_OPTIONS = {"--ticket", "--instance", "--retry", "--outputs", "--outputs-limit", "--wait-seconds", "--within", "--handler", "--driver"}


def parse(args: list[str]) -> TicketArgs | None:
    """The ticket mode's arguments, or None when they are not that mode's (or are malformed)."""
    if not args or args[0] != "--ticket" or len(args) % 2:
        return None
    given = dict(zip(args[::2], args[1::2], strict=True))
    if set(given) - _OPTIONS or not {"--instance", "--retry"} <= set(given) or given.get("--driver", "condition") not in DRIVER_OUTPUTS:
        return None
    try:
        return TicketArgs(
            root=given["--ticket"].rstrip("/"),
            instance=given["--instance"].strip("/"),
            native_try=int(given["--retry"]),
            outputs=Path(given.get("--outputs", tempfile.mkdtemp(prefix="sluiceway-outputs-"))),
            within=tuple(given.get("--within", "").split()),
            handler=given.get("--handler") or None,
            driver=given.get("--driver"),
            outputs_limit=int(given["--outputs-limit"]) if "--outputs-limit" in given else None,
            wait_seconds=float(given.get("--wait-seconds", DEFAULT_WAIT_SECONDS)),
        )
    except ValueError:
        return None


def wait_for_ticket(args: TicketArgs, stores: Stores) -> TaskSpec | Decision:
    """The attempt's task spec once the engine launched it, or the decision this pod follows; TicketError after the wait."""
    own = (
        (f"{args.folder}/{cancelled_ticket_name(args.native_try)}", _decode_decision),
        (f"{args.folder}/{try_ticket_name(args.native_try)}", decode_spec),  # before a decision: it was launched
        (f"{args.folder}/{DECIDED}", _decode_decision),
    )
    folder = Path(tempfile.mkdtemp(prefix="sluiceway-ticket-"))
    started = time.monotonic()
    wider_every = FIRST_WIDER_CHECK_SECONDS
    wider_at = started + wider_every
    pause = FIRST_POLL_SECONDS
    while True:
        for uri, decode in own:
            found = _read(stores, uri, folder, decode)
            if found is not None:
                return found
        now = time.monotonic()
        if now >= wider_at:
            ended = _ended_around(args, stores, folder)
            if ended is not None:
                return next((found for uri, decode in own if (found := _read(stores, uri, folder, decode)) is not None), ended)
            wider_every = min(wider_every * 2, WIDER_CHECK_SECONDS)
            wider_at = now + wider_every
        if now - started >= args.wait_seconds:
            raise TicketError(
                f"no ticket at {args.folder} after {args.wait_seconds:g} s: is the Sluiceway run that owns this pod still followed?"
            )
        time.sleep(pause)
        pause = min(pause * 1.5, LONGEST_POLL_SECONDS)


def _ended_around(args: TicketArgs, stores: Stores, folder: Path) -> Decision | None:
    """A decision to end without running when the run, or a group around the instance, ended without creating it."""
    run_end = _read(stores, f"{args.root}/{RUN_ENDED}", folder, _decode_decision)
    if isinstance(run_end, Decision):
        return Decision(state=run_end.state, message="the run ended before this instance was decided")
    for group in args.within:
        decision = _read(stores, f"{args.root}/{group}/{DECIDED}", folder, _decode_decision)
        if isinstance(decision, Decision) and decision.state != "RUNNING":
            return Decision(state=decision.state, message=f"'{group}' ended ({decision.state}) without running this instance")
    if args.handler:
        handler = _read(stores, f"{args.root}/{args.handler}/{DECIDED}", folder, _decode_decision)
        if isinstance(handler, Decision) and handler.state != "RUNNING" and not handler.opened:
            return Decision(state=handler.state, message=f"its exit handler '{args.handler}' was never entered ({handler.state})")
    return None


def _read(stores: Stores, uri: str, folder: Path, decode: Callable[[bytes], TaskSpec | Decision]) -> TaskSpec | Decision | None:
    data = _fetch(stores, uri, folder)
    if data is None:
        return None
    try:
        return decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise TicketError(f"the ticket at {uri} is not readable: {error}") from None


def _decode_decision(data: bytes) -> Decision:
    return msgspec.json.decode(data, type=Decision)


def _fetch(stores: Stores, uri: str, folder: Path) -> bytes | None:
    store = stores.for_uri(uri)
    if not store.exists(uri):
        return None
    local = folder / "ticket.json"
    try:
        store.download(uri, local)
    except FileNotFoundError:  # gone between the two calls: asked again on the next poll
        return None
    return local.read_bytes()


def stores_from_environment() -> Stores:
    """The artifact stores the pod was given (settings only; credentials are in its environment)."""
    return Stores(msgspec.json.decode(os.environ.get(STORES_ENV) or "{}", type=dict[str, StoreRef | str]))


def apply_decision(decision: Decision, args: TicketArgs) -> int:
    """Leave what the workflow engine needs of a decided instance; the exit status that keeps its graph in step."""
    args.outputs.mkdir(parents=True, exist_ok=True)
    outputs = {**DRIVER_OUTPUTS.get(args.driver or "", {}), **decision.outputs}  # a driver always leaves its outputs
    for name, text in outputs.items():
        (args.outputs / name).write_text(text, encoding="utf-8")
    what = f"{decision.state}: {decision.message}" if decision.message else decision.state
    print(f"sluiceway: decided by the run's engine, not run here ({what})", file=sys.stderr)
    return decision.exit_code


def pod_spec(spec: TaskSpec, args: TicketArgs) -> TaskSpec:
    """The task spec with this pod's own folders (the engine's are on another machine)."""
    folder = Path(tempfile.mkdtemp(prefix=f"sluiceway-{spec.attempt}-"))
    return msgspec.structs.replace(spec, work_dir=str(folder / "work"), result_path=str(folder / "result.json"), values_dir=None)


def write_outputs(result: TaskResult, result_uri: str | None, args: TicketArgs) -> None:
    """One file per output value in DIR, within `--outputs-limit` bytes in all (see the module's docstring)."""
    texts = {name: json.dumps(value) for name, value in result.values.items()}
    texts.update(result.spilled_values)
    if args.outputs_limit is not None:
        pointer = result_uri or "the task's result"
        for name in sorted(texts, key=lambda n: (-len(texts[n].encode()), n)):
            if _termination_size(texts) <= args.outputs_limit:
                break
            texts[name] = pointer
    args.outputs.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (args.outputs / name).write_text(text, encoding="utf-8")


def _termination_size(texts: dict[str, str]) -> int:
    """The bytes the values take in Tekton's termination message: a JSON list of {key, value, type} entries."""
    return len(json.dumps([{"key": name, "value": text, "type": 1} for name, text in texts.items()]).encode())
