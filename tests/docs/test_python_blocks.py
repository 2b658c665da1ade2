"""Every python block of the documentation runs as copied (see tests/docs/snippets.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flux_flex.testing import FakeBFL

from .snippets import ROOT, Snippet, all_snippets, check_ran, missing_lines, run_snippet
from .snippets import unused_functions as unused

PYTHON = all_snippets("python")


def runnable(snippets: list[Snippet]) -> list[Snippet]:
    return [s for s in snippets if not s.markers.get("run", "").startswith("no")]


def test_the_readme_shows_a_sync_and_an_async_example_that_run() -> None:
    readme = runnable([s for s in PYTHON if s.page == "README.md"])
    assert any("FluxFlex()" in s.body for s in readme)
    assert any("AsyncFluxFlex()" in s.body for s in readme)


def test_the_guides_show_runnable_code() -> None:
    # client, batches, journal, webhooks, resuming, testing, generated client (x2)
    assert len(runnable([s for s in PYTHON if s.page.startswith("docs/")])) >= 8


@pytest.mark.parametrize("snippet", PYTHON, ids=lambda s: s.name)
def test_python_block_runs_as_copied(snippet: Snippet, fake: FakeBFL, tmp_path: Path) -> None:
    if snippet.markers.get("run", "").startswith("no"):
        assert snippet.markers["run"].partition(",")[2].strip(), "run: no needs a reason"
        pytest.skip(f"{snippet.name}: {snippet.markers['run']}")
    assert unused(snippet.body) == [], f"{snippet.name} defines but never calls"
    before = len(fake.requests)
    done = run_snippet(snippet, fake, tmp_path, os.environ)
    check_ran(snippet, done, len(fake.requests) - before)


@pytest.mark.parametrize(
    "snippet", [s for s in PYTHON if "example" in s.markers], ids=lambda s: s.name
)
def test_python_block_matches_its_example(snippet: Snippet) -> None:
    source = snippet.markers["example"]
    assert source.startswith("examples/")
    assert missing_lines(snippet.body, (ROOT / source).read_text(encoding="utf-8")) == []
