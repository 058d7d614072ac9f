"""Run supervision, in the server's process: each created run runs to its end on a thread of its own.

A run goes through the embedded default's machinery (`local.execute_recorded`): the same
engine, launcher, recorder and plugins as `sluiceway run`, so a run behaves the same whether a
laptop or the server runs it. The engine records every state change itself; the supervisor
only starts runs, hands cancellations to their engines, and ends a run that could not start.

When the server starts, it takes up the runs that had not ended when it last stopped (killed,
crashed, the machine restarted): one still PENDING starts; one that was RUNNING is ended as
abandoned (what was running is Lost, what had not started is skipped) and run again as
`runs retry` does, so that no task that had finished runs again and no run is lost; one that
was CANCELLING ends CANCELLED. One server per metadata database: a second server would take
up the first one's runs. A graceful stop abandons the runs in flight (they end CANCELLED),
so that none is left RUNNING with nothing behind it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from .. import config, local
from ..core.lifecycle import ErrorKind, RunState

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..stores.sql import SqlMetadataStore

logger = logging.getLogger(__name__)

INTERRUPTED = "the server stopped while the run was under way (killed, crashed or restarted); taken up again when it started"
STOP_GRACE_SECONDS = 15.0
"""How long a graceful stop waits for abandoned runs to record their end."""
RETRY_START_SECONDS = 10.0
"""How long a retry request waits for the run to be taken up (PENDING again), so that its answer shows the new state."""


class AlreadyRunning(RuntimeError):
    """This server is running the run already (a second retry, or a run that has not let go of its thread yet)."""


class RunSupervisor:
    """Starts runs on threads, and cancels them through their engines."""

    def __init__(self, store: SqlMetadataStore, settings: config.Config) -> None:
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._engines: dict[str, Engine] = {}
        self._cancel_asked: set[str] = set()
        """Runs cancelled before their engine existed: it is cancelled as soon as it does."""
        self._started: dict[str, threading.Event] = {}
        """Set once the run's engine exists (the run recorded PENDING or further), or its thread has ended."""
        self._stopping = False

    def recover(self) -> list[str]:
        """Take up the runs that had not ended when the server last stopped (see the module's docstring); their ids."""
        taken = []
        for run_id, state in self.store.unfinished_runs():
            try:
                if state == RunState.PENDING.value:
                    self.start(run_id)
                else:
                    ended = self.store.end_abandoned_run(run_id, INTERRUPTED)
                    if state == RunState.RUNNING.value and ended == RunState.FAILED.value:
                        self.start(run_id, again=True)
                taken.append(run_id)
            except Exception:  # one run that cannot be taken up must not keep the server from serving the others
                logger.exception("could not take up run %s after the server restarted", run_id)
        if taken:
            logger.info("took up %d run(s) left unfinished when the server last stopped", len(taken))
        return taken

    def start(self, run_id: str, *, again: bool = False) -> None:
        """Run `run_id` (recorded PENDING; with `again`, an abandoned run, as `runs retry`) to its end, on a thread."""
        thread = threading.Thread(target=self._run, args=(run_id, again), name=f"run {run_id}", daemon=True)
        with self._lock:
            if self._stopping:
                raise RuntimeError("the server is stopping")
            # Two threads on one run would race for its state: the loser would be recorded as the run failing to launch.
            if run_id in self._threads:
                raise AlreadyRunning(f"this server is running run '{run_id}' already")
            self._threads[run_id] = thread
            self._started[run_id] = threading.Event()
        thread.start()

    def retry(self, run_id: str, wait_seconds: float = RETRY_START_SECONDS) -> None:
        """Run a failed or cancelled run again (`start(again=True)`), keeping its succeeded tasks; return once it has been
        taken up, so that a client that waits for the run next does not see the old end and stop waiting at once."""
        self.start(run_id, again=True)
        with self._lock:
            started = self._started.get(run_id)
        if started is not None:  # None: the thread has ended already
            started.wait(wait_seconds)

    def cancel(self, run_id: str) -> bool:
        """Ask the run to stop, as `sluiceway runs cancel` does; False if this server is not running it."""
        with self._lock:
            if run_id not in self._threads:
                return False
            engine = self._engines.get(run_id)
            if engine is None:
                self._cancel_asked.add(run_id)
            else:
                engine.cancel()
            return True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def running(self) -> int:
        with self._lock:
            return len(self._threads)

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Abandon every run in flight (their attempts are killed, and they end CANCELLED), and wait for them to say so."""
        with self._lock:
            self._stopping = True
            engines = list(self._engines.values())
            threads = list(self._threads.values())
        for engine in engines:
            engine.abandon()
        deadline = time.monotonic() + grace_seconds
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            logger.warning("some runs did not end within %.0f s of the server stopping", grace_seconds)

    def _run(self, run_id: str, again: bool) -> None:
        execute = local.retry_recorded if again else local.execute_recorded
        try:
            execute(run_id, store=self.store, settings=self.settings, on_engine=lambda engine: self._attach(run_id, engine))
        except Exception as error:  # the run could not start, or the engine broke: the run must not stay unfinished
            logger.exception("run %s ended with an error in the server", run_id)
            self._end_broken(run_id, f"the server could not run it: {type(error).__name__}: {error}")
        finally:
            with self._lock:
                self._threads.pop(run_id, None)
                self._engines.pop(run_id, None)
                self._cancel_asked.discard(run_id)
                started = self._started.pop(run_id, None)
            if started is not None:
                started.set()

    def _attach(self, run_id: str, engine: Engine) -> None:
        with self._lock:
            self._engines[run_id] = engine
            if run_id in self._started:
                self._started[run_id].set()
            if self._stopping:
                engine.abandon()
            elif run_id in self._cancel_asked:
                engine.cancel()

    def _end_broken(self, run_id: str, message: str) -> None:
        try:
            state = self.store.get_run(run_id).state
            if state == RunState.PENDING.value:
                self.store.set_run_state(run_id, RunState.FAILED, error_kind=ErrorKind.LAUNCH_FAILED.value, message=message)
            elif state in (RunState.RUNNING.value, RunState.CANCELLING.value):
                self.store.end_abandoned_run(run_id, message)
        except Exception:
            logger.exception("could not record the end of run %s", run_id)
