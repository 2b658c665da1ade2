"""`flux-flex batch`: one bar, a summary, exit 1 on any failure, re-runs skip what exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flux_flex.cli.prompts_file import parse_prompts
from flux_flex.testing import FakeBFL
from PIL import Image

from .conftest import invoke, run_script
from .terminal import run_on_terminal, screen_lines

PROMPTS = """\
# comment lines and blank lines are ignored
a red fox in snow

{"prompt": "a snowy owl", "seed": 7, "width": 128, "height": 128, "output_format": "png"}
a broken one [fail]
{"prompt": "a named lake", "name": "lake"}
"""


def second_args(prompts: Path, out: Path) -> list[str]:
    return ["batch", str(prompts), "--out-dir", str(out)]


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
    items = parse_prompts(PROMPTS.splitlines())
    lake = next(item for item in items if item.prompt == "a named lake")
    assert lake.stem.startswith("lake-")  # "name" starts the file name, the hash follows
    assert (out / f"{lake.stem}.jpg").is_file()  # jpeg is the API's default
    expected = {item.stem for item in items if "[fail]" not in item.prompt}
    images = {path.stem for path in out.iterdir() if not path.name.startswith(".")}
    assert images == expected  # no partial file of the failure
    assert (out / ".flux-flex-journal.sqlite").is_file()  # the task journal, beside them

    # Re-run: the three images exist; the failed task is over (paid): not retried unasked.
    before = posts(fake)
    second = invoke(["batch", str(prompts), "--out-dir", str(out)], quick_env)
    assert second.exit_code == 1
    assert posts(fake) == before
    assert "0 generated, 3 skipped (already there), 1 failed;" in second.stdout
    assert "re-run with --retry-failed" in second.stdout
    as_json = json.loads(invoke([*second_args(prompts, out), "--json"], quick_env).stdout)
    assert "failed in an earlier run" in as_json["items"][2]["error"]
    third = invoke(["batch", str(prompts), "--out-dir", str(out), "--retry-failed"], quick_env)
    assert third.exit_code == 1  # it fails again (the fake always fails it)
    assert posts(fake) - before == 1  # only the failed line was sent again


def test_batch_all_good_exits_0_with_a_table(
    quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a fox\nan owl\n")
    args = ["batch", str(prompts), "--out-dir", str(tmp_path), "--format", "png"]
    result = invoke(args, quick_env)
    assert result.exit_code == 0, result.stderr
    assert "2 generated, 0 skipped (already there), 0 failed;" in result.stdout
    assert len(list(tmp_path.glob("*.png"))) == 2
    assert "2/2 done" in result.stderr  # plain progress lines off a terminal


def test_batch_bad_file_exits_2_naming_the_line(
    quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text('a fox\n{"prompt": "an owl", "colour": "red"}\n')
    result = invoke(["batch", str(prompts), "--out-dir", str(tmp_path / "o")], quick_env)
    assert result.exit_code == 2
    assert 'line 2: unknown key "colour"' in result.stderr
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
    assert "1 generated, 0 skipped (already there), 1 failed;" in done.stdout
    assert "Content Moderated" in done.stdout


BAD_FILE = b"""\
a good fox
{"prompt": "a good owl", "width": 512, "height": 512}
{"prompt": "a tiny owl", "width": 10}
\xff\xfe not text
{"prompt": "a typo", "sead": 7}
{"prompt": "two wrongs", "steps": 99, "input_images": ["/no/such/owl.png"]}
{"prompt": "broken json"
{"prompt": "a bad name", "name": "../up"}
a good lake
"""


def test_batch_checks_every_line_before_sending_anything(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "bad.txt"
    prompts.write_bytes(BAD_FILE)
    out = tmp_path / "never"
    before = posts(fake)
    result = invoke(["batch", str(prompts), "--out-dir", str(out)], quick_env)
    assert result.exit_code == 2, result.output
    assert posts(fake) == before  # one bad line: nothing at all is sent
    assert not out.exists()
    err = result.stderr
    assert "7 problems, nothing was sent" in err
    for expected in [
        "line 3: width: must be >= 64 or 0, not 10",
        "line 4: not valid UTF-8 (byte 0xff at column 1)",
        'line 5: unknown key "sead" (did you mean "seed"?)',
        "line 6: steps: must be <= 50, not 99",
        "line 6: input_images[0]: '/no/such/owl.png' is not a readable file",
        "line 7: not valid JSON",
        "line 8: name: must be a plain file name",
    ]:
        assert expected in err, expected
    for good in ("line 1:", "line 2:", "line 9:"):
        assert good not in err
    assert "Traceback" not in err
    assert "CliUsageError" not in err
    # --json: the one failure object, every problem in its message.
    as_json = invoke(["batch", str(prompts), "--out-dir", str(out), "--json"], quick_env)
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is False
    assert payload["error"]["type"] == "UsageError"
    assert payload["error"]["exit_code"] == 2
    assert 'line 5: unknown key "sead"' in payload["error"]["message"]


def test_bad_option_default_is_named_as_the_option(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a fox\nan owl\n")
    before = posts(fake)
    result = invoke(["batch", str(prompts), "--out-dir", str(tmp_path), "--width", "10"], quick_env)
    assert result.exit_code == 2
    assert "--width" in result.stderr
    assert result.stderr.count("error:") == 1  # named once, not once per line
    assert posts(fake) == before


def test_named_lines_follow_their_parameters_and_force_regenerates(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    out = tmp_path / "out"
    prompts.write_text('{"prompt": "a lake", "name": "lake.png", "seed": 1}\n')
    first = invoke(["batch", str(prompts), "--out-dir", str(out), "--json"], quick_env)
    assert first.exit_code == 0, first.stderr
    first_path = Path(json.loads(first.stdout)["items"][0]["path"])
    assert first_path.name.startswith("lake-")
    assert first_path.suffix == ".png"  # "lake.png" asks for a PNG
    with Image.open(first_path) as image:
        assert image.format == "PNG"
    again = invoke(["batch", str(prompts), "--out-dir", str(out), "--json"], quick_env)
    assert json.loads(again.stdout)["skipped"] == 1  # re-runs are stable

    prompts.write_text('{"prompt": "a lake", "name": "lake.png", "seed": 2}\n')  # changed
    before = posts(fake)
    changed = invoke(["batch", str(prompts), "--out-dir", str(out), "--json"], quick_env)
    changed_path = Path(json.loads(changed.stdout)["items"][0]["path"])
    assert changed_path != first_path
    assert changed_path.name.startswith("lake-")
    assert posts(fake) - before == 1

    first_path.write_bytes(b"stale")
    prompts.write_text('{"prompt": "a lake", "name": "lake.png", "seed": 1}\n')
    forced = invoke(["batch", str(prompts), "--out-dir", str(out), "--json", "--force"], quick_env)
    summary = json.loads(forced.stdout)
    assert (summary["generated"], summary["skipped"]) == (1, 0)
    assert posts(fake) - before == 2
    with Image.open(first_path) as image:  # the existing file was replaced
        assert image.format == "PNG"


def test_user_and_webp_reach_the_api(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text('a user fox\n{"prompt": "a user owl", "user": "line-user"}\n')
    args = ["batch", str(prompts), "--out-dir", str(tmp_path / "o"), "--user", "cli-user"]
    result = invoke([*args, "--format", "webp"], quick_env)
    assert result.exit_code == 0, result.stderr
    bodies = {r.json["prompt"]: r.json for r in fake.requests if r.method == "POST"}
    assert bodies["a user fox"]["user"] == "cli-user"  # the option is every line's default
    assert bodies["a user owl"]["user"] == "line-user"  # a line's own value wins
    assert {bodies[p]["output_format"] for p in ("a user fox", "a user owl")} == {"webp"}
    too_long = invoke([*args[:-1], "u" * 257], quick_env)
    assert too_long.exit_code == 2
    assert "--user" in too_long.stderr


def test_live_display_shows_the_figures_within_60_columns(
    env: dict[str, str], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a narrow fox\na narrow owl\na narrow fail [fail]\n")
    args = ["batch", str(prompts), "--out-dir", str(tmp_path / "o"), "--format", "png"]
    code, stdout, screen = run_on_terminal(args, env, columns=60)
    assert code == 1, screen  # one item failed
    assert "\x1b[" in screen  # drawn live, not plain lines
    lines = screen_lines(screen)
    too_wide = [line for line in lines if len(line.rstrip()) > 60]
    assert too_wide == []
    last = [line for line in lines if "in flight" in line][-1]
    spent = re.search(r"in flight 0 · done 2 · failed 1 · (\d+\.\d\d) credits", last)
    assert spent, last
    assert float(spent.group(1)) > 0  # what the tasks were billed, as they were
    assert "3/3" in screen
    assert "2 generated" in stdout
