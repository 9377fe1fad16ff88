"""How library stages report progress without knowing who is watching.

The CLI passes a Rich-backed reporter; Python callers get `NullReporter` by default.
"""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def start(self, label: str, total: int | None) -> None:
        """Begin a task of `total` units (None when unknown)."""

    def advance(self, n: int = 1, info: str = "") -> None:
        """`n` more units done; `info` is a short live figure such as "412 tok/s"."""

    def log(self, message: str) -> None:
        """A line worth showing once (a choice made, a file skipped)."""

    def finish(self) -> None:
        """The current task is over."""


class NullReporter:
    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1, info: str = "") -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass
