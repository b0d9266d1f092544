"""Requests that are ready at the same moment share one model call.

A scikit-learn model spends most of a single-row prediction validating its input, not
computing: a few hundred microseconds whether it gets one row or eight. When several
clients wait on one server process, their requests arrive together, and the event loop
holds them all before it runs the first; so each request, once parsed and checked, hands
its rows here and waits, and right after the requests that are ready now have done the
same, each model version predicts the stacked rows once and every request gets its own
rows back. Nothing waits for traffic that has not arrived: a lone request is predicted at
once, alone.

Only ``predict`` on the float-matrix fast path, and only for a model whose predictions on
a probe batch equal its row-by-row predictions exactly (``fastpath.row_independent``), so
a request is answered as if alone. If the shared call fails (one request's rows make the
model raise), every request is predicted on its own, so each gets its own answer or error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_ROWS = 64  # rows per shared call; a request of more than MAX_REQUEST_ROWS goes alone
MAX_REQUEST_ROWS = 16


class Coalescer:
    """``await coalescer.predict(model, matrix)``: ``run(model, matrix)``, shared."""

    def __init__(self, run: Callable[[Any, Any], Any]) -> None:
        self.run = run
        self._waiting: dict[int, tuple[Any, list[tuple[Any, asyncio.Future[Any]]]]] = {}
        self._scheduled = False

    async def predict(self, model: Any, matrix: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.setdefault(id(model), (model, []))[1].append((matrix, future))
        if not self._scheduled:  # after the callbacks that are ready now
            self._scheduled = True
            loop.call_soon(self._predict_waiting)
        return await future

    def _predict_waiting(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, {}
        for model, requests in waiting.values():
            group: list[tuple[Any, asyncio.Future[Any]]] = []
            rows = 0
            for request in requests:
                if group and rows + len(request[0]) > MAX_ROWS:
                    self._predict(model, group)
                    group, rows = [], 0
                group.append(request)
                rows += len(request[0])
            self._predict(model, group)

    def _predict(self, model: Any, group: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        if len(group) > 1:
            try:
                stacked = self.run(model, np.concatenate([m for m, _ in group]))
            except Exception:
                stacked = None
            if isinstance(stacked, np.ndarray) and len(stacked) == sum(len(m) for m, _ in group):
                start = 0
                for matrix, future in group:
                    if not future.done():
                        future.set_result(stacked[start : start + len(matrix)])
                    start += len(matrix)
                return
        for matrix, future in group:  # alone, or the shared call failed: each on its own
            try:
                result = self.run(model, matrix)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)
