"""Model cards: one page that answers "what is this model, where did it come from, who
moved it live and on what evidence", generated from the store, never written by hand.

The card is built once as a small document (sections of paragraphs, tables and lists) and
rendered twice, to Markdown and to a self-contained HTML page, so both always say the same.
Anything the store no longer has (a deleted run, a purged dataset) is shown as missing:
a card is most needed when something went wrong, so it must not fail then.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeAlias

from shipyard._clock import from_millis
from shipyard.errors import InvalidArgument, NotFound
from shipyard.store.base import AliasMove, DatasetRecord, ModelVersionRecord, RegisteredModel

if TYPE_CHECKING:
    from shipyard.registry.models import ModelRegistry
    from shipyard.tracking import Client, Run

DATASET_URI = re.compile(r"^dataset:(?P<project>[^/]+)/(?P<name>[^/]+)/(?P<version>\d+)$")


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


Block: TypeAlias = str | list[str] | Table  # a paragraph, a bullet list or a table


@dataclass(frozen=True)
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True)
class ModelCard:
    """A version's card; ``markdown`` and ``html`` render the same sections."""

    name: str
    version: int
    sections: list[Section]

    @property
    def title(self) -> str:
        return f"Model card: {self.name} version {self.version}"

    @cached_property
    def markdown(self) -> str:
        return render_markdown(self.title, self.sections)

    @cached_property
    def html(self) -> str:
        return render_html(self.title, self.sections)


def model_card(registry: ModelRegistry, name: str, version: int) -> ModelCard:
    """The card of ``name`` version ``version``, from everything the store links to it."""
    model = registry.get_model(name)
    record = registry.get_version(name, version).record
    client = registry.client
    run = _run(client, record.run_id)
    sections = [
        _overview(model, record),
        _run_section(client, record, run),
        _data_section(client, record),
        _signature_section(record),
        Section("Metrics", [_key_values(record.metrics, "metric") or "No metrics recorded."]),
        Section("Requirements", [list(record.requirements) or "No requirements recorded."]),
        _history_section(registry.alias_history(name)),
    ]
    return ModelCard(name, version, sections)


# -- gathering -------------------------------------------------------------------------


def _overview(model: RegisteredModel, record: ModelVersionRecord) -> Section:
    aliases = sorted(a for a, v in model.aliases.items() if v == record.version)
    owner = record.owner or model.owner
    facts = [
        ("model", record.name),
        ("version", str(record.version)),
        ("uri", f"models:/{record.name}/{record.version}"),
        ("aliases", ", ".join(aliases) or "none point at this version"),
        ("status", record.status),
        ("owner", owner or "unknown"),
        ("model owner", model.owner) if model.owner and model.owner != owner else None,
        ("flavor", record.flavor),
        ("registered", f"{_when(record.created_ms)} by {record.created_by}"),
        ("tags", _pairs(record.tags) or "none"),
        ("model tags", _pairs(model.tags)) if model.tags else None,
        ("files", f"sha256 {record.blob_hash}"),
    ]
    rows = [f for f in facts if f is not None]
    description = record.description or model.description or "No description."
    return Section("Overview", [description, Table(("field", "value"), rows)])


def _run(client: Client, run_id: str | None) -> Run | str:
    """The run, or why it cannot be shown."""
    if run_id is None:
        return "No run recorded: registered outside a run, or its run was purged."
    try:
        return client.get_run(run_id)
    except (NotFound, InvalidArgument):
        return f"Run {run_id} no longer exists."


def _run_section(client: Client, record: ModelVersionRecord, run: Run | str) -> Section:
    if isinstance(run, str):
        return Section("Training run", [run])
    facts = [
        ("run", run.id),
        ("project", run.project),
        ("name", run.name),
        ("status", run.status.value + (" (deleted)" if run.deleted else "")),
        ("started", f"{_when_dt(run.start_time)} by {run.user or 'unknown'}"),
        ("code version", run.code_version or "not recorded"),
        ("flow", _flow_pathspec(client, run)),
    ]
    blocks: list[Block] = [Table(("field", "value"), [f for f in facts if f[1]])]
    blocks.append(_key_values(run.params, "parameter") or "No parameters logged.")
    blocks.append(_key_values(run.metrics, "run metric") or "No run metrics logged.")
    return Section("Training run", blocks)


def _flow_pathspec(client: Client, run: Run) -> str:
    """FLOW/NUMBER/STEP/TASK when a flow task produced the model, FLOW/NUMBER for a flow."""
    flow_run_id = run.parent_id if run.kind == "task" else run.id if run.kind == "flow" else None
    if flow_run_id is None:
        return ""
    try:
        flow = client.store.flows.flow_run_of(flow_run_id)
    except NotFound:
        return f"a flow run {flow_run_id} that no longer exists"
    if run.kind == "flow":
        return f"{flow.flow_name}/{flow.number}"
    return f"{flow.flow_name}/{flow.number}/{run.tags.get('step', '?')}/{run.id}"


def _data_section(client: Client, record: ModelVersionRecord) -> Section:
    blocks: list[Block] = []
    dataset = _dataset(client, record.dataset)
    if isinstance(dataset, str):
        blocks.append(dataset)
    else:
        blocks += _dataset_blocks(dataset)
    lineage = dataset.lineage if isinstance(dataset, DatasetRecord) else {}
    service = record.feature_service or lineage.get("feature_service")
    blocks.append(f"Feature service: {service}." if service else "No feature service recorded.")
    return Section("Training data", blocks)


def _dataset(client: Client, uri: str | None) -> DatasetRecord | str:
    if uri is None:
        return "No training dataset recorded."
    match = DATASET_URI.match(uri)
    if match is None:
        return f"Training data: {uri} (not a saved Shipyard dataset; shown as recorded)."
    try:
        return client.store.features.get_dataset(
            match["project"], match["name"], int(match["version"])
        )
    except NotFound:
        return f"Dataset {uri} no longer exists."


def _dataset_blocks(dataset: DatasetRecord) -> list[Block]:
    lineage = dataset.lineage
    uri = f"dataset:{dataset.project}/{dataset.name}/{dataset.version}"
    facts = [
        ("dataset", uri),
        ("rows", f"{dataset.rows:,}"),
        ("saved", f"{_when(dataset.created_ms)} by {dataset.created_by}"),
        ("entity rows hash", str(lineage.get("entity_df_hash", "not recorded"))),
        ("files", f"sha256 {dataset.blob_hash}"),
    ]
    views = lineage.get("feature_views") or {}
    rows = [
        (
            str(view),
            str(info.get("version", "?")),
            ", ".join(map(str, info.get("features", []))),
            str(info.get("source", "")),
            str(info.get("source_fingerprint", "")),
        )
        for view, info in sorted(views.items())
    ]
    columns = ("feature view", "version", "features", "source", "source fingerprint")
    blocks: list[Block] = [Table(("field", "value"), facts)]
    blocks.append(Table(columns, rows) if rows else "No feature views recorded.")
    on_demand = lineage.get("on_demand_feature_views") or {}
    if on_demand:
        blocks.append([f"on-demand view {k} version {v}" for k, v in sorted(on_demand.items())])
    return blocks


def _signature_section(record: ModelVersionRecord) -> Section:
    signature = record.signature or {}
    if not signature:
        return Section("Signature", ["No signature: register with input_example= to record one."])
    blocks: list[Block] = []
    for part in ("inputs", "outputs"):
        rows = [(str(c.get("name", "")), str(c.get("type", ""))) for c in signature.get(part, [])]
        blocks.append(Table((part[:-1], "type"), rows) if rows else f"No {part} recorded.")
    return Section("Signature", blocks)


def _history_section(moves: list[AliasMove]) -> Section:
    if not moves:
        return Section("Alias history", ["No alias has pointed at any version of this model."])
    rows = [
        (
            _when(m.moved_ms),
            m.alias,
            _version(m.from_version, "unset"),
            _version(m.to_version, "removed"),
            m.moved_by,
            "; ".join(_gate(g) for g in m.gates) or "none",
        )
        for m in moves
    ]
    return Section("Alias history", [Table(("when", "alias", "from", "to", "by", "gates"), rows)])


def _gate(result: dict[str, Any]) -> str:
    mark = "passed" if result.get("passed") else "FAILED"
    return f"{result.get('gate', '?')}: {mark} ({result.get('detail', '')})"


def _key_values(values: dict[str, Any], what: str) -> Table | None:
    rows = [(str(k), _number(v)) for k, v in sorted(values.items())]
    return Table((what, "value"), rows) if rows else None


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _pairs(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def _version(version: int | None, none: str) -> str:
    return none if version is None else f"v{version}"


def _when(ms: int) -> str:
    return _when_dt(from_millis(ms))


def _when_dt(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


# -- rendering -------------------------------------------------------------------------


def render_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += [*_markdown_block(block), ""]
    return "\n".join(lines).rstrip() + "\n"


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, str):
        return [block]
    if isinstance(block, list):
        return [f"- {_cell(item)}" for item in block]
    lines = ["| " + " | ".join(block.columns) + " |", "|" + " --- |" * len(block.columns)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; color: #1f2328; margin: 0; background: #f6f8fa; }
main { max-width: 60rem; margin: 2rem auto; padding: 0 1.5rem 2rem; background: #fff;
       border: 1px solid #d0d7de; border-radius: 8px; }
h1 { font-size: 1.6rem; border-bottom: 1px solid #d0d7de; padding-bottom: .4rem; }
h2 { font-size: 1.2rem; margin-top: 1.8rem; }
p { white-space: pre-wrap; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left;
         vertical-align: top; overflow-wrap: anywhere; }
th { background: #f6f8fa; }
"""


def render_html(title: str, sections: list[Section]) -> str:
    """A self-contained page: inline CSS, no scripts, every value escaped."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<section>\n<h2>{html.escape(section.title)}</h2>")
        body += [_html_block(block) for block in section.blocks]
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        "<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def _html_block(block: Block) -> str:
    if isinstance(block, str):
        return f"<p>{html.escape(block)}</p>"
    if isinstance(block, list):
        items = "".join(f"<li>{html.escape(item)}</li>" for item in block)
        return f"<ul>{items}</ul>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in block.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{rows}</tbody>\n</table>"
