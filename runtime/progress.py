"""Progress display for long steps: a live line on a terminal; when stderr is piped or a log file,
a plain line every `interval` seconds while a step runs (short runs print nothing)."""
from __future__ import annotations

import sys
import threading
import time

PLAIN_INTERVAL = 10.0   # seconds between plain lines when not on a terminal


class Progress:
    """Step messages and counters on stderr.

    On a TTY (or live=True): one line rewritten in place. Otherwise: every `interval` seconds a
    plain line "[  20.0s] slot SAFU" (or "evaluating 1,200/3,100") with what is running then,
    from a background timer, so a log shows a long step even when it makes no calls of its own.
    enabled=False prints nothing at all.
    """

    def __init__(self, enabled: bool | None = None, stream=None, interval: float = PLAIN_INTERVAL,
                 live: bool | None = None):
        self.stream = stream or sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = tty if live is None else live
        self.enabled = True if enabled is None else enabled
        self.interval = interval
        self.t0 = time.perf_counter()
        self._message: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def _elapsed(self) -> str:
        return f"[{time.perf_counter() - self.t0:6.1f}s]"

    def step(self, message: str) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write(f"\r\033[K{self._elapsed()} {message}")
            self.stream.flush()
            return
        with self._lock:
            self._message = message
        if self._timer is None:
            self._timer = threading.Thread(target=self._tick, name="safu-progress", daemon=True)
            self._timer.start()

    def count(self, done: int, total: int, label: str) -> None:
        if not self.enabled:
            return
        if self.live:
            if done == total or done % 50 == 0:
                width = 30
                filled = int(width * done / max(total, 1))
                self.step(f"{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        else:
            self.step(f"{label} {done:,}/{total:,}")

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                message = self._message
                if message is not None:
                    self.stream.write(f"{self._elapsed()} {message}\n")
                    self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
            return
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
            self._timer = None
        with self._lock:
            self._message = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
