"""Container logs: what a container wrote, line by line with the time, and how a log request renders it."""

from __future__ import annotations

import threading
import time


class LogBuffer:
    """A container's log: lines with the time they were written; readers may wait for more."""

    def __init__(self) -> None:
        self._lines: list[tuple[float, bytes]] = []
        self._done = False
        self._changed = threading.Condition()

    def append(self, line: bytes) -> None:
        with self._changed:
            self._lines.append((time.time(), line))
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def read(self, start: int, timeout: float) -> tuple[list[tuple[float, bytes]], int, bool]:
        """The lines from `start` (waiting up to `timeout` for one), the next position, and whether that is all there will be."""
        with self._changed:
            if len(self._lines) <= start and not self._done and timeout > 0:
                self._changed.wait(timeout)
            return self._lines[start:], len(self._lines), self._done

    def text(self) -> bytes:
        with self._changed:
            return b"".join(line for _, line in self._lines)


def render(lines: list[tuple[float, bytes]], timestamps: bool) -> bytes:
    """The lines as `kubectl logs` gets them; with `timestamps`, each prefixed with its RFC 3339 time in nanoseconds."""
    if not timestamps:
        return b"".join(line for _, line in lines)
    out = []
    for when, line in lines:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1e9):09d}Z "
        out.append(stamp.encode() + line)
    return b"".join(out)
