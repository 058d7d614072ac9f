"""`python -m sluiceway.executor --ticket URI --retry N --outputs DIR [--outputs-limit BYTES]`: a workflow engine's pod.

Argo or Tekton started this pod; Sluiceway's engine decides what it does (sluiceway/core/tickets.py). The executor
waits for `URI/N.json` (the task spec of the attempt the engine launched: run it, as on any backend) or for
`URI/decided.json` (the engine decided the instance: write its outputs for the workflow engine, exit with its
code). It reads both with the artifact stores that $SLUICEWAY_TASK_STORES names, and gives up after
`--wait-seconds` (default: an hour) with exit status 2, as for an unusable spec.

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
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ..core.stores import Stores
from ..core.task_spec import STORES_ENV, StoreRef, TaskResult, TaskSpec, decode_spec
from ..core.tickets import DECIDED, Decision, try_ticket_name

FIRST_POLL_SECONDS = 0.05
LONGEST_POLL_SECONDS = 2.0
DEFAULT_WAIT_SECONDS = 3600.0


class TicketError(Exception):
    """The ticket cannot be had or read: the pod ends as an unusable spec would."""


@dataclass(frozen=True)
class TicketArgs:
    uri: str
    native_try: int
    outputs: Path
    outputs_limit: int | None = None
    wait_seconds: float = DEFAULT_WAIT_SECONDS


def parse(args: list[str]) -> TicketArgs | None:
    """The ticket mode's arguments, or None when they are not that mode's (or are malformed)."""
    if not args or args[0] != "--ticket" or len(args) % 2:
        return None
    given = dict(zip(args[::2], args[1::2], strict=True))
    if set(given) - {"--ticket", "--retry", "--outputs", "--outputs-limit", "--wait-seconds"} or "--retry" not in given:
        return None
    try:
        return TicketArgs(
            uri=given["--ticket"].rstrip("/"),
            native_try=int(given["--retry"]),
            outputs=Path(given.get("--outputs", tempfile.mkdtemp(prefix="sluiceway-outputs-"))),
            outputs_limit=int(given["--outputs-limit"]) if "--outputs-limit" in given else None,
            wait_seconds=float(given.get("--wait-seconds", DEFAULT_WAIT_SECONDS)),
        )
    except ValueError:
        return None


def wait_for_ticket(args: TicketArgs, stores: Stores) -> TaskSpec | Decision:
    """The attempt's task spec once the engine launched it, or the engine's decision; TicketError after the wait."""
    attempt_uri, decided_uri = f"{args.uri}/{try_ticket_name(args.native_try)}", f"{args.uri}/{DECIDED}"
    folder = Path(tempfile.mkdtemp(prefix="sluiceway-ticket-"))
    deadline = time.monotonic() + args.wait_seconds
    pause = FIRST_POLL_SECONDS
    while True:
        for uri, decode in ((attempt_uri, decode_spec), (decided_uri, _decode_decision)):  # an attempt first: it was launched
            data = _fetch(stores, uri, folder)
            if data is not None:
                try:
                    return decode(data)
                except (msgspec.DecodeError, msgspec.ValidationError) as error:
                    raise TicketError(f"the ticket at {uri} is not readable: {error}") from None
        if time.monotonic() >= deadline:
            raise TicketError(
                f"no ticket at {args.uri} after {args.wait_seconds:g} s: is the Sluiceway run that owns this pod still followed?"
            )
        time.sleep(pause)
        pause = min(pause * 1.5, LONGEST_POLL_SECONDS)


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
    for name, text in decision.outputs.items():
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
