"""A step's AST is found in its file's parse (fast) and is the one ``inspect`` gives for
the step alone (the fallback): same tree, same line numbers."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from shipyard.flows import FlowSpec, step
from shipyard.flows.graph import _in_parsed_file, _parsed_alone
from shipyard.flows.step import is_step

EXAMPLES = sorted(p.stem for p in (Path(__file__).parent / "examples").glob("*_flow.py"))


class Decorated(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def _steps(module_name: str) -> list[object]:
    module = importlib.import_module(f"tests.flows.examples.{module_name}")
    flows = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, FlowSpec)]
    return [f for cls in flows for f in vars(cls).values() if is_step(f)]


@pytest.mark.parametrize("module_name", EXAMPLES)
def test_the_file_parse_finds_what_inspect_finds(module_name: str) -> None:
    steps = _steps(module_name) or pytest.skip("no steps")
    parsed: dict[str, ast.Module | None] = {}
    for func in steps:
        found = _in_parsed_file(func, parsed)
        assert found is not None, func
        alone, offset = _parsed_alone(func)
        assert ast.dump(found[0]) == ast.dump(alone)
        assert found[0].lineno + found[1] == alone.lineno + offset


def test_a_step_without_a_readable_file_falls_back(tmp_path: Path) -> None:
    parsed: dict[str, ast.Module | None] = {Decorated.start.__code__.co_filename: None}
    assert _in_parsed_file(Decorated.start, parsed) is None
    tree, offset = _parsed_alone(Decorated.start)
    assert tree.lineno + offset == Decorated.start.__code__.co_firstlineno + 1
    assert Decorated.graph()["start"].lineno == Decorated.start.__code__.co_firstlineno + 1
