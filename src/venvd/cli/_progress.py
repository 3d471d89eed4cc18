"""Progress on stderr: a spinner that appears only when work takes more than a moment."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

__all__ = ["Spinner"]


class Spinner:
    """`with Spinner("Resolving") as s:` shows elapsed time and the latest pin after 0.5 s, on a TTY."""

    def __init__(self, label: str, delay: float = 0.5) -> None:
        self.label = label
        self.delay = delay
        self.detail = ""
        self.count = 0
        self._status: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    def __enter__(self) -> Spinner:
        if sys.stderr.isatty():
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(self.label) as status:
            while not self._stop.wait(0.1):
                elapsed = time.monotonic() - self._started
                extra = f" — {self.count} pinned, {self.detail}" if self.count else ""
                status.update(f"{self.label} ({elapsed:.1f}s){extra}")

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def update(self, detail: str, count: int | None = None) -> None:
        self.detail = detail
        if count is not None:
            self.count = count

    def reporter(self) -> Any:
        """A resolver reporter feeding this spinner."""
        from venvd.resolver import NullReporter

        spinner = self

        class _Reporter(NullReporter):
            def pinning(self, name: str, version: str) -> None:
                spinner.update(f"{name} {version}", spinner.count + 1)

            def backtracking(self, causes: Any) -> None:
                spinner.update("backtracking")

        return _Reporter()
