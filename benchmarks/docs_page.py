"""The benchmarks page's results table (docs/maintainers/benchmarks.md), rewritten by every
full run of ``make bench``: the block between two markers is replaced, so the page always
shows the latest full run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.targets import Check

PAGE = Path(__file__).resolve().parent.parent / "docs" / "maintainers" / "benchmarks.md"
START = "<!-- bench-table:start (make bench rewrites this table) -->"
END = "<!-- bench-table:end -->"


def _load(value: Any) -> str:
    if isinstance(value, list) and value:
        return "/".join(f"{x:g}" for x in value)
    return "?"


def render(results: dict[str, Any], checks: list[Check]) -> str:
    """The markdown block: one row per headline target, then where and how it was measured."""
    lines = [
        "| what | baseline (same run) | target | measured | |",
        "|---|---|---|---|---|",
    ]
    for c in checks:
        if not (c.headline or c.readme):
            continue
        verdict = "PASS" if c.passed else "MISS"
        measured = c.shown_value + (f" ({c.note})" if c.note and c.value is not None else "")
        lines.append(f"| {c.target} | {c.baseline} | {c.shown_limit} | {measured} | {verdict} |")
    m = results.get("machine", {})
    commit = str((m.get("checkout") or {}).get("commit") or "?")[:10]
    lines += [
        "",
        f"Measured {m.get('started_at', '?')} at commit {commit} on {m.get('cpu_model', '?')}, "
        f"{m.get('cores', '?')} cores, Python {m.get('python', '?')}; load average "
        f"{_load(m.get('load_average_at_start'))} at the start, "
        f"{_load(m.get('load_average_at_end'))} at the end (1/5/15 min). Ratios are against "
        "baselines run side by side in the same run, so they hold up under load better than "
        "the absolute figures in `benchmarks/results.json`.",
    ]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """``text`` with the part between the markers replaced by ``block``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {START!r} ... {END!r} block to rewrite")
    return text[: start + len(START)] + "\n" + block + "\n" + text[end:]


def write_page(results: dict[str, Any], checks: list[Check], path: Path = PAGE) -> None:
    """Rewrite the page's results table from ``results``."""
    text = path.read_text(encoding="utf-8")
    path.write_text(replace_block(text, render(results, checks)), encoding="utf-8")
