"""Progress of a flow run: a live table on a terminal, plain lines elsewhere (CI logs)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

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


def progress_for(title: str, steps: list[str]) -> Observer:
    """A live table on a terminal; plain lines elsewhere, without loading rich at all."""
    return RichProgress(title, steps) if sys.stdout.isatty() else PlainProgress(title)


class _Counting(Observer):
    def __init__(self, title: str, steps: list[str]) -> None:
        self.title = title
        self.steps = steps
        self.counts: dict[str, Counter[str]] = {s: Counter() for s in steps}
        self.started_at = time.monotonic()

    def started(self, step: str) -> None:
        self.counts[step]["running"] += 1

    def finished(self, result: TaskResult) -> None:
        counts = self.counts[result.step]
        if not result.cloned:
            counts["running"] -= 1
        counts["cloned" if result.cloned else "done" if result.ok else "failed"] += 1

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started_at:.1f} s"


class PlainProgress(_Counting):
    """One line each time all the tasks of a step started so far have finished."""

    def __init__(self, title: str, steps: list[str] | None = None) -> None:
        super().__init__(title, steps or [])

    def started(self, step: str) -> None:
        self.counts.setdefault(step, Counter())
        super().started(step)

    def finished(self, result: TaskResult) -> None:
        self.counts.setdefault(result.step, Counter())
        super().finished(result)
        counts = self.counts[result.step]
        if result.ok and counts["running"] == 0:
            total = counts["done"] + counts["cloned"]
            print(
                f"{self.title} {result.step}: {total} task(s) done ({self.elapsed()})", flush=True
            )

    def retrying(self, step: str, attempt: int, error: str | None) -> None:
        print(f"{self.title} {step}: attempt {attempt} failed ({error}); retrying", flush=True)


class RichProgress(_Counting):
    """A live table of every step's tasks: done, running, failed, reused."""

    def __init__(self, title: str, steps: list[str], console: Any = None) -> None:
        from rich.console import Console  # only on a terminal: rich costs ~70 ms to import
        from rich.live import Live

        super().__init__(title, steps)
        self.console = console or Console(highlight=False)
        self.live = Live(self._table(), console=self.console, refresh_per_second=8)
        self.live.start()

    def started(self, step: str) -> None:
        super().started(step)
        self.live.update(self._table())

    def finished(self, result: TaskResult) -> None:
        super().finished(result)
        self.live.update(self._table())

    def retrying(self, step: str, attempt: int, error: str | None) -> None:
        from rich.markup import escape  # an error message is text, never markup

        self.console.print(
            f"[yellow]{step}: attempt {attempt} failed ({escape(error or '')}); retrying[/]"
        )

    def close(self) -> None:
        self.live.update(self._table())
        self.live.stop()

    def _table(self) -> Any:
        from rich.table import Table

        grid = Table(title=f"{self.title}  {self.elapsed()}", title_justify="left")
        for column in ("step", "done", "running", "failed", "reused"):
            grid.add_column(column, justify="left" if column == "step" else "right")
        for step in self.steps:
            c = self.counts[step]
            grid.add_row(
                step,
                str(c["done"]),
                str(c["running"] or ""),
                f"[red]{c['failed']}[/]" if c["failed"] else "",
                str(c["cloned"] or ""),
            )
        return grid
