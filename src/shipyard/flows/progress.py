"""Live progress of a flow run in the terminal: tasks per step done, running, failed."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from shipyard.flows.worker import TaskResult


class Observer:
    """What the runner tells about its tasks; the base class ignores everything."""

    def started(self, step: str) -> None:
        """A task of ``step`` was handed to the executor."""

    def finished(self, result: TaskResult) -> None:
        """A task ended (ok, failed, or cloned from the run being resumed)."""

    def retrying(self, step: str, attempt: int, error: str | None) -> None:
        """A failed task will run again."""

    def close(self) -> None:
        """The run is over."""


class RichProgress(Observer):
    """A live table on a terminal; one plain line per finished step elsewhere (CI logs)."""

    def __init__(self, title: str, steps: list[str], console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.title = title
        self.steps = steps
        self.counts: dict[str, Counter[str]] = {s: Counter() for s in steps}
        self.started_at = time.monotonic()
        self.live: Live | None = None
        if self.console.is_terminal:
            self.live = Live(
                self._table(), console=self.console, refresh_per_second=8, transient=False
            )
            self.live.start()

    def started(self, step: str) -> None:
        self.counts[step]["running"] += 1
        self._refresh()

    def finished(self, result: TaskResult) -> None:
        counts = self.counts[result.step]
        if not result.cloned:
            counts["running"] -= 1
        counts["cloned" if result.cloned else "done" if result.ok else "failed"] += 1
        if self.live is None and result.ok and counts["running"] == 0:
            total = counts["done"] + counts["cloned"]
            self.console.print(
                f"{self.title} {result.step}: {total} task(s) done ({self._elapsed()})"
            )
        self._refresh()

    def retrying(self, step: str, attempt: int, error: str | None) -> None:
        self.console.print(f"[yellow]{step}: attempt {attempt} failed ({error}); retrying[/]")

    def close(self) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started_at:.1f} s"

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._table())

    def _table(self) -> Table:
        grid = Table(title=f"{self.title}  {self._elapsed()}", title_justify="left")
        for column in ("step", "done", "running", "failed", "reused"):
            grid.add_column(column, justify="left" if column == "step" else "right")
        for step in self.steps:
            c = self.counts[step]
            cells: list[Any] = [
                step,
                str(c["done"]),
                str(c["running"] or ""),
                f"[red]{c['failed']}[/]" if c["failed"] else "",
                str(c["cloned"] or ""),
            ]
            grid.add_row(*cells)
        return grid
