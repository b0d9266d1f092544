"""Flow graphs: Metaflow-tutorial shapes are read correctly; broken ones are explained."""

from __future__ import annotations

import textwrap

import pytest

from shipyard.errors import InvalidFlow
from shipyard.flows import FlowSpec, JSONType, Parameter, step


class LinearFlow(FlowSpec):
    """A linear flow (Metaflow tutorial 'helloworld' shape)."""

    @step
    def start(self):
        """Say hi."""
        self.my_var = "hello world"
        self.next(self.a)

    @step
    def a(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class BranchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.next(self.join)

    @step
    def b(self):
        self.x = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.x = max(i.x for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


class ForeachFlow(FlowSpec):
    """Nested foreach, as in Metaflow's 'movie stats' and nested-foreach examples."""

    @step
    def start(self):
        self.titles = ["Stranger Things", "House of Cards"]
        self.next(self.a, foreach="titles")

    @step
    def a(self):
        self.title = f"{self.input} processed"
        self.letters = list(self.input[:2])
        self.next(self.b, foreach="letters")

    @step
    def b(self):
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.results = [i.title for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_linear_flow_graph():
    graph = LinearFlow.graph()
    assert [n.name for n in graph.sorted_nodes()] == ["start", "a", "end"]
    assert graph["start"].type == "start" and graph["a"].type == "linear"
    assert graph["end"].type == "end" and graph["end"].in_funcs == ["a"]
    assert graph["start"].doc == "Say hi."
    assert graph["start"].file.endswith("test_graph.py") and graph["start"].lineno > 0


def test_branch_and_join():
    graph = BranchFlow.graph()
    assert graph["start"].type == "split" and graph["start"].out_funcs == ["a", "b"]
    assert graph["join"].type == "join" and sorted(graph["join"].in_funcs) == ["a", "b"]
    assert graph["a"].split_parents == ["start"] and graph["join"].split_parents == ["start"]
    assert graph["end"].split_parents == []


def test_nested_foreach():
    graph = ForeachFlow.graph()
    assert graph["start"].type == "foreach" and graph["start"].foreach_param == "titles"
    assert graph["a"].type == "foreach" and graph["a"].foreach_param == "letters"
    assert graph["b"].split_parents == ["start", "a"]
    assert graph["inner_join"].type == "join" and graph["join"].split_parents == ["start"]
    rendered = ForeachFlow.graph().render()
    assert "foreach over self.titles" in rendered and "Step inner_join" in rendered


def test_parameters_types_and_resolution():
    from shipyard.flows.parameters import resolve

    class ParameterFlow(FlowSpec):
        alpha = Parameter("alpha", help="Learning rate", default=0.01)
        epochs = Parameter("epochs", default=3)
        layers = Parameter("layers", type=JSONType, default="[64, 32]")
        name = Parameter("name", required=True)
        debug = Parameter("debug", default=False)

        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    params = ParameterFlow.parameters()
    assert params["alpha"].parse("0.5") == 0.5 and params["epochs"].parse("7") == 7
    assert params["layers"].parse("[1, 2]") == [1, 2]
    assert params["debug"].parse("true") is True
    values = resolve("ParameterFlow", params, {"name": "x", "alpha": 1})
    assert values == {"alpha": 1.0, "epochs": 3, "layers": [64, 32], "name": "x", "debug": False}
    with pytest.raises(InvalidFlow, match="needs parameter 'name'"):
        resolve("ParameterFlow", params, {})
    with pytest.raises(InvalidFlow, match="has no parameter beta"):
        resolve("ParameterFlow", params, {"name": "x", "beta": 1})
    with pytest.raises(InvalidFlow, match="expects int"):
        params["epochs"].parse("seven")
    with pytest.raises(InvalidFlow, match="expects float"):
        resolve("ParameterFlow", params, {"name": "x", "alpha": [1]})


def _flow_from_source(tmp_path, monkeypatch, body: str):
    """Define a flow in a real file (graphs are read from source) and return its class."""
    import importlib.util
    import sys

    path = tmp_path / "broken_flow.py"
    path.write_text("from shipyard.flows import FlowSpec, step\n\n" + textwrap.dedent(body))
    name = f"broken_flow_{tmp_path.name}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # inspect finds sources through it
    spec.loader.exec_module(module)
    return module.BrokenFlow


BROKEN = {
    "no start": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def end(self):
                pass
        """,
        r"the flow: every flow needs a 'start' step",
    ),
    "no end": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a)
            @step
            def a(self):
                self.next(self.start)
        """,
        r"every flow needs a 'end' step",
    ),
    "missing next": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.x = 1
            @step
            def end(self):
                pass
        """,
        r"step 'start' \(.*broken_flow.py:6\): a step must end with self.next",
    ),
    "next not last": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)
                self.x = 1
            @step
            def end(self):
                pass
        """,
        r"step 'start' .*self.next\(\) \(line 7\) must be the last statement",
    ),
    "unknown step": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.train)
            @step
            def end(self):
                pass
        """,
        r"names 'train', which is not a step \(steps: end, start\)",
    ),
    "unreachable": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)
            @step
            def orphan(self):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
        r"step 'orphan' \(.*:9\): this step is unreachable from start",
    ),
    "branch never joins": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a, self.b)
            @step
            def a(self):
                self.next(self.end)
            @step
            def b(self):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
        r"step 'end' .*2 steps lead here \(a, b\), so it must be a join",
    ),
    "foreach never joins": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.items = [1, 2]
                self.next(self.a, foreach="items")
            @step
            def a(self):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
        r"step 'start' .*a branch started here never joins before end",
    ),
    "join arity": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a, self.b, self.c)
            @step
            def a(self):
                self.next(self.join)
            @step
            def b(self):
                self.next(self.join)
            @step
            def c(self):
                self.next(self.other)
            @step
            def other(self, inputs):
                self.next(self.join)
            @step
            def join(self, inputs):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
        r"step 'other' .*this join takes 1 branch\(es\) but 'start' .* splits into 3",
    ),
    "join without split": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.join)
            @step
            def join(self, inputs):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
        r"step 'join' .*a join step needs a split or foreach before it",
    ),
    "cycle": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a)
            @step
            def a(self):
                self.next(self.b)
            @step
            def b(self):
                self.next(self.a, self.end)
            @step
            def end(self):
                pass
        """,
        r"step 'b' .*the flow has a cycle: a -> b -> a",
    ),
    "bad foreach": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a, self.b, foreach="items")
            @step
            def a(self):
                self.next(self.end)
            @step
            def b(self):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
        r"a foreach goes to exactly one step",
    ),
    "end calls next": (
        """
        class BrokenFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)
            @step
            def end(self):
                self.next(self.start)
        """,
        r"step 'end' .*the end step must not call self.next\(\)",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_flows_are_explained_with_step_and_line(tmp_path, monkeypatch, case):
    body, message = BROKEN[case]
    flow = _flow_from_source(tmp_path, monkeypatch, body)
    with pytest.raises(InvalidFlow, match=message) as error:
        flow.graph()
    assert str(error.value).startswith("BrokenFlow: ")
