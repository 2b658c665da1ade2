"""Issue 20, "Done when" 1: three workers share one batch.

Three `flux-flex batch` processes run one file against one PostgreSQL journal, each saving
into a folder of its own. Every line is POSTed exactly once, the images across the three
folders are the lines, and the fake never has more tasks running than ``--max-in-flight``
and never answers 429. (The issue's 300 lines with ``--max-in-flight 24`` are
`make bench`'s size; here 60 lines with a limit of 6 against workers of 6 each, so three
workers without one shared limit would run up to 18.)
"""

from __future__ import annotations

from pathlib import Path

from tests.cluster.harness import (
    FakeApi,
    cli,
    finish,
    images,
    journal_counts,
    line_names,
    prompts_file,
    running,
)

LINES = 60
LIMIT = 6


def test_three_workers_share_one_batch(fake: FakeApi, journal_url: str, tmp_path: Path) -> None:
    batch = prompts_file(tmp_path / "prompts.jsonl", LINES)
    folders = [tmp_path / f"worker{i}" for i in range(3)]
    workers = [
        cli(
            fake,
            "batch",
            str(batch),
            "--out-dir",
            str(folder),
            "--journal",
            journal_url,
            "--max-in-flight",
            str(LIMIT),
            "--concurrency",
            str(LIMIT),
            "--yes",
            cwd=tmp_path,
        )
        for folder in folders
    ]
    with running(*workers):
        outcomes = [finish(worker) for worker in workers]
    for code, out, err in outcomes:
        assert code == 0, f"{out}\n{err}"

    seen = fake.stats()
    names = line_names(LINES)
    assert sorted(seen["posts"]) == sorted(f"prompt {name}" for name in names)
    assert set(seen["posts"].values()) == {1}, "a line was POSTed more than once"
    assert seen["rate_limited"] == 0
    assert seen["peak_running"] <= LIMIT
    saved = images(folders)
    assert sorted(saved) == names
    assert all(len(paths) == 1 for paths in saved.values()), "a line was saved twice"
    assert journal_counts(journal_url) == {"saved": LINES}  # the shared journal, not a file
    # The work was shared: more than one worker saved something.
    assert sum(1 for folder in folders if any(folder.iterdir())) >= 2
