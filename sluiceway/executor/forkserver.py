"""The executor as a fork server: `python -m sluiceway.executor --serve FD`.

Starting a Python interpreter and importing the executor costs more than most tasks' own
work. A fork server pays it once per run: it imports the executor, then forks one child per
attempt. Each child is still a process of its own (its own session and process group, its
own memory), so one task cannot break another; it runs exactly what `python -m
sluiceway.executor SPEC` runs, and exits through normal interpreter shutdown.

Protocol, over the connected Unix socket FD (one JSON object per line, both ways):
- the orchestrator sends `{"id": N, "spec": PATH, "env": {...}, "cwd": DIR, "argv0": STR}` with one
  file descriptor attached (SCM_RIGHTS): the child's stdout and stderr;
- the server answers `{"id": N, "pid": PID}` once the child exists, and `{"id": N, "exit": CODE}`
  when it has ended (CODE as subprocess gives it: negative for a signal).
The server exits when the orchestrator closes its end. The server itself must stay
single-threaded, so that forking it is safe.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import sys
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, NoReturn

MAX_FDS_PER_READ = 16


@dataclass(frozen=True)
class Job:
    """What a forked child is to run."""

    spec_path: str
    argv0: str


def serve(control_fd: int) -> Job | None:
    """Fork a child per request until the orchestrator hangs up. Returns None in the server and the child's job in a child."""
    _preload()
    control = socket.socket(fileno=control_fd)
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_read, False)
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that SIGCHLD writes to the wakeup pipe
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wakeup_read, selectors.EVENT_READ, "children")
    children: dict[int, int] = {}  # pid -> request id
    pending = bytearray()
    fds: deque[int] = deque()
    gc.freeze()  # what is loaded now stays shared with the children instead of being copied on their first collection

    def answer(message: dict[str, Any]) -> None:
        control.sendall(json.dumps(message).encode() + b"\n")

    while True:
        for key, _ in selector.select():
            if key.data == "children":
                _drain(wakeup_read)
                for pid, code in _reap():
                    if pid in children:
                        answer({"id": children.pop(pid), "exit": code})
                continue
            data, received, _, _ = socket.recv_fds(control, 1 << 16, MAX_FDS_PER_READ)
            if not data:
                return None
            fds.extend(received)
            pending += data
            while b"\n" in pending:
                line, _, rest = pending.partition(b"\n")
                pending[:] = rest
                request = json.loads(line)
                output_fd = fds.popleft()
                pid = os.fork()
                if pid == 0:
                    return _become_child(request, output_fd, (control, selector, wakeup_read, wakeup_write, *fds))
                os.close(output_fd)
                children[pid] = request["id"]
                answer({"id": request["id"], "pid": pid})


def _preload() -> None:
    """Import what every attempt imports, so that children start with it loaded."""
    import msgspec  # noqa: F401

    from .. import dsl  # noqa: F401
    from ..core.task_spec import decode_spec  # noqa: F401
    from ..dsl.annotations import PipelineTaskFinalStatus  # noqa: F401
    from ..dsl.artifacts import ARTIFACT_CLASSES  # noqa: F401
    from ..stores.local import LocalArtifactStore  # noqa: F401
    from . import run  # noqa: F401


def _become_child(request: dict[str, Any], output_fd: int, inherited: tuple[Any, ...]) -> Job:
    """Shed the server's state: its signals, sockets and descriptors; take the request's output, environment and folder."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for thing in inherited:
        if isinstance(thing, int):
            os.close(thing)
        else:
            thing.close()
    os.setsid()  # its own process group, so that stopping it stops its children too
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(null)
    os.close(output_fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    return Job(spec_path=request["spec"], argv0=request["argv0"])


def _reap() -> list[tuple[int, int]]:
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, os.waitstatus_to_exitcode(status)))


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def main(control_fd: int) -> int:
    """The server's entry point. A child never returns: it runs its attempt and exits."""
    job = serve(control_fd)
    if job is None:
        return 0
    from .__main__ import main as run_attempt

    sys.argv = [job.argv0, job.spec_path]
    try:
        code = run_attempt([job.spec_path])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    _exit(code)


def _exit(code: int) -> NoReturn:
    """End a child as interpreter shutdown would for the user (non-daemon threads joined, atexit
    handlers run, streams flushed) but without tearing down every module, which are the
    server's and would cost a child more time than most tasks take."""
    current = threading.current_thread()
    while unfinished := [t for t in threading.enumerate() if t is not current and not t.daemon and t.is_alive()]:
        for thread in unfinished:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a stream the task closed or broke
            stream.flush()
    os._exit(code)
