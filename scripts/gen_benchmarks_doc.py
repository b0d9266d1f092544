"""Regenerate docs/benchmarks.md from benchmarks/README.md (tests/test_docs.py checks it is
current): the site shows the same tables the benchmarks' README holds, with the links that
only make sense in the repository (to the scripts next to the README) turned into plain
text, and anchors within the page kept.

python scripts/gen_benchmarks_doc.py > docs/benchmarks.md
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "benchmarks" / "README.md"
# [text](target): a target that is neither an anchor in the page nor a full URL points at
# a file in the repository, which the site does not have.
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _link(match: re.Match[str]) -> str:
    text, target = match.group(1), match.group(2)
    if target.startswith(("#", "http://", "https://")):
        return match.group(0)
    return f"{text} (`benchmarks/{target}` in the repository)"


def render() -> str:
    text = SOURCE.read_text(encoding="utf-8")
    title, _, body = text.partition("\n")
    if title != "# Benchmarks":
        raise SystemExit(f"{SOURCE} must start with '# Benchmarks', not {title!r}")
    note = (
        "Generated from `benchmarks/README.md` by `scripts/gen_benchmarks_doc.py`; do not "
        "edit by hand. The scripts are in `benchmarks/` in the repository; the figures were "
        "measured on the machine and at the dates each section names. "
        "[Scaling](scaling.md) puts them together for a team's deployment."
    )
    body = "\n".join(_LINK.sub(_link, line) for line in body.split("\n"))
    return f"{title}\n\n{note}\n{body}"


if __name__ == "__main__":
    print(render(), end="")
