"""Compile the run filter AST (shipyard.store.filters) to SQLAlchemy, bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, not_, or_, select, true

from shipyard.errors import FilterSyntaxError
from shipyard.store.base import RunStatus
from shipyard.store.filters import BoolOp, Comparison, Node, parse_filter, parse_order_by
from shipyard.store.sql.like import Like
from shipyard.store.sql.tables import latest_metrics, params, projects, runs, tags

_ATTRIBUTE_COLUMNS = {
    "status": runs.c.status,
    "name": runs.c.name,
    "run_id": runs.c.id,
    "user": runs.c.user,
    "kind": runs.c.kind,
    "start_time": runs.c.start_ms,
    "end_time": runs.c.end_ms,
}
_DATA_TABLES = {"metric": latest_metrics, "param": params, "tag": tags}


def run_select() -> Select[Any]:
    return select(*runs.c, projects.c.name.label("project")).join(
        projects, projects.c.id == runs.c.project_id
    )


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    result: ColumnElement[bool]
    match op:
        case "=":
            result = column == value
        case "!=":
            result = column != value
        case "<":
            result = column < value
        case "<=":
            result = column <= value
        case ">":
            result = column > value
        case ">=":
            result = column >= value
        case "like":
            result = Like(column, value)
        case "ilike":
            result = Like(column, value, insensitive=True)
        case "in":
            result = column.in_(list(value))
        case "not_in":
            result = column.not_in(list(value))
        case _:
            raise FilterSyntaxError(f"unsupported operator {op!r}")
    return result


def _condition(node: Node) -> ColumnElement[bool]:
    if isinstance(node, BoolOp):
        parts = [_condition(item) for item in node.items]
        return and_(*parts) if node.op == "and" else or_(*parts)
    return _comparison(node)


def _comparison(node: Comparison) -> ColumnElement[bool]:
    if node.kind == "attribute":
        column = _ATTRIBUTE_COLUMNS[node.key]
        if node.key == "status":
            _check_statuses(node.value)
        if node.op == "is_null":
            return column.is_(None)
        if node.op == "not_null":
            return column.is_not(None)
        return _compare(column, node.op, node.value)
    table = _DATA_TABLES[node.kind]
    match = exists().where(table.c.run_id == runs.c.id, table.c.key == node.key)
    if node.op == "is_null":
        # a metric "is null" when the run never logged it (or its latest value is NaN)
        if node.kind == "metric":
            return not_(match.where(table.c.value.is_not(None)))
        return not_(match)
    if node.op == "not_null":
        return match.where(table.c.value.is_not(None)) if node.kind == "metric" else match
    return match.where(_compare(table.c.value, node.op, node.value))


def _check_statuses(value: Any) -> None:
    values = value if isinstance(value, tuple) else (value,)
    known = {s.value for s in RunStatus}
    for item in values:
        if isinstance(item, str) and "%" not in item and item.upper() not in known:
            raise FilterSyntaxError(
                f"unknown status {item!r}; statuses are {', '.join(sorted(known))}"
            )


def _matching(
    project_names: Sequence[str] | None, filter_text: str, include_deleted: bool
) -> Select[Any]:
    """The runs of ``project_names`` (None: every project) that ``filter_text`` matches."""
    query = run_select()
    if project_names is not None:
        query = query.where(projects.c.name.in_(list(project_names)) if project_names else false())
    if not include_deleted:
        query = query.where(runs.c.deleted_ms.is_(None))
    node = parse_filter(filter_text)
    return query.where(_condition(node) if node is not None else true())


def count_query(
    project_names: Sequence[str] | None, filter_text: str, include_deleted: bool
) -> Select[Any]:
    """How many runs ``build_query`` would find without a limit."""
    matching = _matching(project_names, filter_text, include_deleted).subquery()
    return select(func.count()).select_from(matching)


def build_query(
    project_names: Sequence[str] | None,
    filter_text: str,
    order_by: Sequence[str] | str,
    limit: int,
    offset: int,
    include_deleted: bool,
) -> Select[Any]:
    query = _matching(project_names, filter_text, include_deleted)
    orderings = []
    for i, key in enumerate(parse_order_by(list(order_by) if order_by else None)):
        if key.kind == "attribute":
            column: Any = _ATTRIBUTE_COLUMNS[key.key]
        else:
            table = _DATA_TABLES[key.kind].alias(f"order_{i}")
            query = query.outerjoin(
                table, and_(table.c.run_id == runs.c.id, table.c.key == key.key)
            )
            column = table.c.value
        orderings.append((column.desc() if key.descending else column.asc()).nulls_last())
    orderings += [runs.c.start_ms.desc(), runs.c.id]
    return query.order_by(*orderings).limit(limit).offset(offset)
