"""A flow's graph, read from the source of its steps, and the checks run before anything runs.

Each step must end with ``self.next(...)`` (``end`` has none). The call decides the node:

    self.next(self.b)                     linear
    self.next(self.a, self.b)             split: static branches, joined later
    self.next(self.t, foreach="items")    foreach: one task of ``t`` per item of self.items
    def join(self, inputs): ...           join: takes the branches (or foreach tasks) back

Every problem is reported as ``InvalidFlow`` naming the flow, the step and its line.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidFlow
from shipyard.flows.step import is_step


@dataclass
class Node:
    name: str
    type: str  # start | linear | split | foreach | join | end
    out_funcs: list[str]
    in_funcs: list[str] = field(default_factory=list)
    foreach_param: str | None = None
    num_args: int = 1
    file: str = ""
    lineno: int = 0
    doc: str = ""
    split_parents: list[str] = field(default_factory=list)  # enclosing splits, outermost first
    decorators: list[Any] = field(default_factory=list)

    def decorator(self, name: str) -> Any:
        return next((d for d in self.decorators if d.name == name), None)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.lineno}"


class FlowGraph:
    def __init__(self, flow_cls: type) -> None:
        self.name = flow_cls.__name__
        self.nodes: dict[str, Node] = {}
        for name, func, func_ast, file, offset in _step_sources(flow_cls):
            self.nodes[name] = _node(self.name, name, func, func_ast, file, offset)
        for node in self.nodes.values():
            for child in node.out_funcs:
                if child in self.nodes:
                    self.nodes[child].in_funcs.append(node.name)
        check(self)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.nodes.values())

    def descendants(self, step: str) -> set[str]:
        """``step`` and every step reachable from it."""
        seen: set[str] = set()
        todo = [step]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.nodes[name].out_funcs)
        return seen

    def sorted_nodes(self) -> list[Node]:
        """Steps in a topological order from start (ties in definition order)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for child in reversed(self.nodes[name].out_funcs):
                visit(child)
            order.append(name)

        visit("start")
        return [self.nodes[n] for n in reversed(order)]

    def render(self) -> str:
        """A readable description of the graph, for ``python flow.py show``."""
        lines = []
        for node in self.sorted_nodes():
            head = f"Step {node.name}"
            if node.doc:
                head += f"\n    {node.doc}"
            if node.type == "end":
                lines.append(head)
                continue
            targets = ", ".join(node.out_funcs)
            if node.type == "foreach":
                arrow = f"  => {targets} (foreach over self.{node.foreach_param})"
            elif node.type == "split":
                arrow = f"  => {targets} (in parallel)"
            else:
                arrow = f"  => {targets}"
            lines.append(head + "\n" + arrow)
        return "\n\n".join(lines)


def _fail(graph_name: str, node: Node | None, message: str) -> InvalidFlow:
    where = f"step '{node.name}' ({node.where})" if node else "the flow"
    return InvalidFlow(f"{graph_name}: {where}: {message}")


def _step_sources(flow_cls: type) -> list[tuple[str, Any, ast.FunctionDef, str, int]]:
    """(name, function, its AST, file, line offset) for every step, base classes included.

    Each step's own source is read (not the class's): that also works for flows defined
    in a notebook cell, whose class has no file but whose functions do (via linecache).
    """
    found: dict[str, tuple[str, Any, ast.FunctionDef, str, int]] = {}
    parsed: dict[str, ast.Module | None] = {}  # each file once
    for klass in reversed(flow_cls.__mro__):
        for name, func in vars(klass).items():
            if not is_step(func):
                continue
            try:
                file = inspect.getsourcefile(func) or func.__code__.co_filename
                located = _in_parsed_file(func, parsed)
                if located is None:
                    located = _parsed_alone(func)
            except (OSError, TypeError) as exc:
                raise InvalidFlow(
                    f"{flow_cls.__name__}: cannot read the source of step {name} to build "
                    f"the graph ({exc}); define the flow in a file or a notebook cell"
                ) from None
            function, offset = located
            found[name] = (name, func, function, file, offset)
    return list(found.values())


def _in_parsed_file(
    func: Any, parsed: dict[str, ast.Module | None]
) -> tuple[ast.FunctionDef, int] | None:
    """The step's AST found in its whole file's, parsed once (no offset: its line numbers
    are the file's). Cheaper than ``inspect.getsourcelines``, whose tokenizer alone takes
    ~10 ms to set up at the start of every ``python flow.py run``; None when the file
    cannot be read or parsed, or holds no such function where the code says."""
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None:
        return None
    if code.co_filename not in parsed:
        module = sys.modules.get(getattr(func, "__module__", "") or "")
        lines = linecache.getlines(code.co_filename, getattr(module, "__dict__", None))
        try:
            parsed[code.co_filename] = ast.parse("".join(lines)) if lines else None
        except (SyntaxError, ValueError):
            parsed[code.co_filename] = None
    tree = parsed[code.co_filename]
    for node in ast.walk(tree) if tree is not None else ():
        if (
            isinstance(node, ast.FunctionDef)
            and node.name == code.co_name
            and min([node.lineno, *(d.lineno for d in node.decorator_list)]) == code.co_firstlineno
        ):
            return node, 0
    return None


def _parsed_alone(func: Any) -> tuple[ast.FunctionDef, int]:
    """The step's AST from its own source (``inspect``), with the offset of its lines."""
    lines, first_line = inspect.getsourcelines(func)
    function = ast.parse(textwrap.dedent("".join(lines))).body[0]
    assert isinstance(function, ast.FunctionDef)
    return function, first_line - 1


def _node(flow: str, name: str, func: Any, tree: ast.FunctionDef, file: str, offset: int) -> Node:
    node = Node(
        name,
        "linear",
        [],
        num_args=len(tree.args.args),
        file=file,
        lineno=tree.lineno + offset,
        doc=inspect.getdoc(func) or "",
        decorators=list(getattr(func, "decorators", [])),
    )
    for decorator in node.decorators:
        decorator.check(flow, name)
    calls = [c for c in ast.walk(tree) if _is_next_call(c)]
    last = tree.body[-1] if tree.body else None
    if name == "end":
        node.type = "end"
        if calls:
            raise _fail(flow, node, "the end step must not call self.next()")
        return node
    if not calls:
        raise _fail(flow, node, "a step must end with self.next(...) naming the next step")
    if len(calls) > 1 or not (isinstance(last, ast.Expr) and last.value is calls[0]):
        call_line = getattr(calls[-1], "lineno", 0) + offset
        raise _fail(
            flow,
            node,
            f"self.next() (line {call_line}) must be the last statement of the step, called once",
        )
    call = calls[0]
    assert isinstance(call, ast.Call)
    _read_transition(flow, node, call)
    if node.num_args == 2:
        node.type = "join"
    elif node.num_args > 2:
        raise _fail(flow, node, "a step takes (self) or, for a join, (self, inputs)")
    if node.foreach_param is not None:
        if len(node.out_funcs) != 1:
            raise _fail(flow, node, "a foreach goes to exactly one step")
        if node.decorator("catch"):
            raise _fail(
                flow,
                node,
                "@catch cannot be used on a foreach step (if it fails "
                "there is nothing to iterate over)",
            )
        node.type = "foreach"
    elif len(node.out_funcs) > 1:
        if node.type == "join":
            raise _fail(flow, node, "a join step cannot split again in the same step")
        node.type = "split"
    if name == "start":
        if node.num_args != 1:
            raise _fail(flow, node, "the start step takes only self")
        node.type = "start" if node.type == "linear" else node.type
    return node


def _read_transition(flow: str, node: Node, call: ast.Call) -> None:
    """The targets and foreach= of a step's self.next(...) call."""
    for arg in call.args:
        if not (
            isinstance(arg, ast.Attribute)
            and isinstance(arg.value, ast.Name)
            and arg.value.id == "self"
        ):
            raise _fail(flow, node, "self.next() takes steps as self.step_name")
        node.out_funcs.append(arg.attr)
    if not node.out_funcs:
        raise _fail(flow, node, "self.next() needs at least one step")
    for keyword in call.keywords:
        if keyword.arg != "foreach":
            raise _fail(flow, node, f"self.next() got an unknown argument {keyword.arg!r}")
        if not (isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)):
            raise _fail(flow, node, 'foreach= takes the name of an artifact: foreach="items"')
        node.foreach_param = keyword.value.value


def _is_next_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "next"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "self"
    )


def check(graph: FlowGraph) -> None:
    """Structural checks; raise InvalidFlow on the first problem."""
    flow = graph.name
    for required in ("start", "end"):
        if required not in graph.nodes:
            raise _fail(flow, None, f"every flow needs a '{required}' step")
    for node in graph:
        if len(set(node.out_funcs)) != len(node.out_funcs):
            raise _fail(flow, node, "self.next() names the same step twice")
        for child in node.out_funcs:
            if child not in graph.nodes:
                known = ", ".join(sorted(graph.nodes))
                raise _fail(
                    flow, node, f"self.next() names '{child}', which is not a step (steps: {known})"
                )
    reachable = graph.descendants("start")
    for node in graph:
        if node.name not in reachable:
            raise _fail(flow, node, "this step is unreachable from start")
    _check_acyclic(graph)
    for node in graph:
        if len(node.in_funcs) > 1 and node.type != "join":
            parents = ", ".join(sorted(node.in_funcs))
            raise _fail(
                flow,
                node,
                f"{len(node.in_funcs)} steps lead here ({parents}), so "
                f"it must be a join: def {node.name}(self, inputs)",
            )
    _check_split_join_balance(graph)


def _check_acyclic(graph: FlowGraph) -> None:
    def visit(name: str, path: list[str]) -> None:
        for child in graph[name].out_funcs:
            if child in path:
                cycle = " -> ".join([*path[path.index(child) :], child])
                raise _fail(graph.name, graph[name], f"the flow has a cycle: {cycle}")
            visit(child, [*path, child])

    visit("start", ["start"])


def _check_split_join_balance(graph: FlowGraph) -> None:
    """Every split or foreach is closed by exactly one join that all its branches reach."""
    flow = graph.name
    assigned: dict[str, list[str]] = {}

    def visit(name: str, stack: list[str]) -> None:
        node = graph[name]
        if name in assigned:
            if assigned[name] != stack:
                raise _fail(
                    flow,
                    node,
                    "this step is reached from different branches that were not joined first",
                )
            return
        assigned[name] = stack
        node.split_parents = stack
        if node.type == "join":
            if not stack:
                raise _fail(flow, node, "a join step needs a split or foreach before it")
            opened = graph[stack[-1]]
            if opened.type == "split" and len(node.in_funcs) != len(opened.out_funcs):
                raise _fail(
                    flow,
                    node,
                    f"this join takes {len(node.in_funcs)} branch(es) but "
                    f"'{opened.name}' (line {opened.lineno}) splits into "
                    f"{len(opened.out_funcs)}",
                )
            stack = stack[:-1]
        if node.type == "end" and stack:
            opened = graph[stack[-1]]
            raise _fail(flow, opened, "a branch started here never joins before end")
        children_stack = [*stack, name] if node.type in ("split", "foreach") else stack
        for child in node.out_funcs:
            child_node = graph[child]
            if child_node.type == "join" and node.type in ("split", "foreach"):
                raise _fail(
                    flow,
                    child_node,
                    f"'{name}' splits straight into this join; put "
                    "at least one step in each branch",
                )
            visit(child, children_stack)

    visit("start", [])
