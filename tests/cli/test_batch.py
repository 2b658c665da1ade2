"""`flux-flex batch`: one bar, a summary, exit 1 on any failure, re-runs skip what exists."""

from __future__ import annotations

import json
from pathlib import Path

from flux_flex.cli.prompts_file import parse_prompts
from flux_flex.testing import FakeBFL
from PIL import Image

from .conftest import invoke, run_script

PROMPTS = """\
# comment lines and blank lines are ignored
a red fox in snow

{"prompt": "a snowy owl", "seed": 7, "width": 128, "height": 128, "output_format": "png"}
a broken one [fail]
{"prompt": "a named lake", "name": "lake"}
"""


def posts(fake: FakeBFL) -> int:
    return fake.count("POST", "/v1/flux-2-flex")


def test_batch_reports_failures_and_a_rerun_skips_existing_images(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(PROMPTS)
    out = tmp_path / "images"
    before = posts(fake)
    first = invoke(["batch", str(prompts), "--out-dir", str(out), "--json"], quick_env)
    assert first.exit_code == 1, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["generated"], summary["skipped"], summary["failed"]) == (3, 0, 1)
    assert [item["line"] for item in summary["items"]] == [2, 4, 5, 6]  # file order
    failed = summary["items"][2]
    assert failed["state"] == "failed"
    assert failed["id"]
    assert failed["id"] in failed["error"]
    assert posts(fake) - before == 4
    owl = Path(summary["items"][1]["path"])
    with Image.open(owl) as image:
        assert (image.format, image.size) == ("PNG", (128, 128))
    assert (out / "lake.jpg").is_file()  # "name" sets the file; jpeg is the API's default
    items = parse_prompts(PROMPTS.splitlines())
    expected = {item.stem for item in items if "[fail]" not in item.prompt}
    assert {path.stem for path in out.iterdir()} == expected  # no partial file of the failure

    # Re-run: the three images exist, only the failed prompt is submitted again.
    before = posts(fake)
    second = invoke(["batch", str(prompts), "--out-dir", str(out)], quick_env)
    assert second.exit_code == 1
    assert posts(fake) - before == 1
    assert "1 generated" not in second.stdout
    assert "0 generated, 3 skipped (already there), 1 failed." in second.stdout
    assert "failed" in second.stdout
    assert "skipped" in second.stdout


def test_batch_all_good_exits_0_with_a_table(
    quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a fox\nan owl\n")
    args = ["batch", str(prompts), "--out-dir", str(tmp_path), "--format", "png"]
    result = invoke(args, quick_env)
    assert result.exit_code == 0, result.stderr
    assert "2 generated, 0 skipped (already there), 0 failed." in result.stdout
    assert len(list(tmp_path.glob("*.png"))) == 2
    assert "2/2 done" in result.stderr  # plain progress lines off a terminal


def test_batch_bad_file_exits_2_naming_the_line(
    quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text('a fox\n{"prompt": "an owl", "colour": "red"}\n')
    result = invoke(["batch", str(prompts), "--out-dir", str(tmp_path / "o")], quick_env)
    assert result.exit_code == 2
    assert "line 2" in result.stderr
    assert "colour" in result.stderr
    bad_concurrency = invoke(
        ["batch", str(prompts), "--out-dir", str(tmp_path), "--concurrency", "0"], quick_env
    )
    assert bad_concurrency.exit_code == 2


def test_batch_script_with_mock(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k not in ("BFL_API_KEY", "BFL_BASE_URL")}
    (tmp_path / "p.txt").write_text("a fox\na fox [moderate-content]\n")
    args = ["batch", "p.txt", "--out-dir", "imgs", "--mock", "--mock-task-seconds", "0.1"]
    done = run_script(args, env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "1 generated, 0 skipped (already there), 1 failed." in done.stdout
    assert "Content Moderated" in done.stdout
