"""Progress display for long steps: a live line on a terminal, nothing when piped."""
from __future__ import annotations

import sys
import time


class Progress:
    """Step messages and counters on stderr, only when stderr is a TTY (or force=True)."""

    def __init__(self, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()

    def step(self, message: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\033[K[{time.perf_counter() - self.t0:6.1f}s] {message}")
            self.stream.flush()

    def count(self, done: int, total: int, label: str) -> None:
        if self.enabled and (done == total or done % 50 == 0):
            width = 30
            filled = int(width * done / max(total, 1))
            self.step(f"{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
