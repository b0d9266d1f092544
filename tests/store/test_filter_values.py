"""Filter values with quotes, LIKE wildcards and backslashes match exactly what they say,
the same on SQLite and PostgreSQL (SQLite's own LIKE ignores case and has no escape)."""

from __future__ import annotations

import pytest

from shipyard.store.sql.like import glob_pattern, like_pattern
from shipyard.tracking import Client

VALUES = ["it's", "50%", "500", "a_b", "axb", "C:\\temp", "Fraud", "fraud", "[*]", "*", "wh?"]


@pytest.fixture
def runs(client: Client) -> Client:
    for value in VALUES:
        run = client.create_run("p", run_name=f"r{VALUES.index(value)}", capture_code=False)
        client.set_tag(run.id, "v", value)
    return client


def _found(client: Client, filter: str) -> list[str]:
    return sorted(r.tags["v"] for r in client.search_runs("p", filter))


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ("tags.v = 'it''s'", ["it's"]),
        ("tags.v = 'it\\'s'", ["it's"]),
        ("tags.v like 'it''%'", ["it's"]),
        ("tags.v like '50\\%'", ["50%"]),
        ("tags.v like '50%'", ["50%", "500"]),
        ("tags.v like 'a\\_b'", ["a_b"]),
        ("tags.v like 'a_b'", ["a_b", "axb"]),
        ("tags.v = 'C:\\\\temp'", ["C:\\temp"]),
        # the filter's string turns \\ into \, then LIKE reads \ as its escape: a literal
        # backslash in a pattern is four in the filter, as in PostgreSQL
        ("tags.v like 'C:\\\\\\\\%'", ["C:\\temp"]),
        ("tags.v like 'C:\\\\%'", []),
        ("tags.v like 'fraud'", ["fraud"]),
        ("tags.v like 'F%'", ["Fraud"]),
        ("tags.v ilike 'FRAUD'", ["Fraud", "fraud"]),
        ("tags.v like '[*]'", ["[*]"]),
        ("tags.v like '*'", ["*"]),
        ("tags.v like '%?'", ["wh?"]),
        ("tags.v like '%'", sorted(VALUES)),
        ("tags.v in ('it''s', '50%')", ["50%", "it's"]),
    ],
)
def test_filter_values_match_exactly(runs: Client, filter: str, expected: list[str]) -> None:
    assert _found(runs, filter) == expected


def test_artifact_prefixes_are_exact_and_case_sensitive(client: Client) -> None:
    run = client.create_run("p", capture_code=False)
    for path in ("data/a.txt", "Data/b.txt", "d%ta/c.txt", "d_ta/d.txt", "dxta/e.txt"):
        client.log_text(run.id, path, path)
    listed = {
        p: [a.path for a in client.list_artifacts(run.id, p)] for p in ("data/", "d%ta", "d_ta")
    }
    assert listed == {"data/": ["data/a.txt"], "d%ta": ["d%ta/c.txt"], "d_ta": ["d_ta/d.txt"]}


def test_patterns_translate_one_to_one() -> None:
    assert like_pattern("50\\%_x\\") == "50\\%_x\\\\"  # a lone trailing backslash is literal
    assert glob_pattern("a%b_c*d?[e]\\%") == "a*b?c[*]d[?][[]e]%"
