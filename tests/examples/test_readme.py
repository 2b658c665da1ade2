"""The README stays true: its Python comes from the tested examples, its CLI lines parse.

Every ```python block must follow a ``<!-- example: examples/NAME.py -->`` marker, and each of
its lines must appear, in order, in that script (the README may leave lines out, never add
any), so the code readers copy is the code the example tests run. Every ``flux-flex ...``
line of a ```bash block must be accepted by the real command's parser.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from flux_flex.cli.app import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(
    r"(?:<!-- example: (?P<source>\S+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S
)


def blocks(lang: str) -> list[tuple[str | None, str]]:
    return [
        (match["source"], match["body"])
        for match in BLOCK.finditer(README)
        if match["lang"] == lang
    ]


def missing_lines(snippet: str, source: str) -> list[str]:
    """The snippet's lines not found, in order, among the source's lines (stripped)."""
    wanted = [line.strip() for line in snippet.splitlines() if line.strip()]
    have = iter(line.strip() for line in source.splitlines())
    return [line for line in wanted if not any(line == candidate for candidate in have)]


PYTHON_BLOCKS = blocks("python")


def test_the_readme_has_python_snippets() -> None:
    assert len(PYTHON_BLOCKS) >= 6  # sync, async, batch, webhooks, resume, testing


@pytest.mark.parametrize(("source", "snippet"), PYTHON_BLOCKS, ids=lambda v: str(v)[:40])
def test_python_snippet_comes_from_a_tested_example(source: str | None, snippet: str) -> None:
    assert source is not None, f"a python block has no <!-- example: --> marker:\n{snippet}"
    assert source.startswith("examples/")
    assert missing_lines(snippet, (ROOT / source).read_text(encoding="utf-8")) == []


def test_missing_lines_catches_a_changed_line() -> None:
    source = "a = 1\nb = 2\nc = 3\n"
    assert missing_lines("a = 1\nc = 3", source) == []
    assert missing_lines("c = 3\na = 1", source) == ["a = 1"]  # order matters
    assert missing_lines("a = 1\nb = 5", source) == ["b = 5"]


CLI_LINES = [
    line.strip()
    for _, body in blocks("bash")
    for line in body.splitlines()
    if line.strip().startswith("flux-flex ")
]


def test_the_readme_shows_every_command() -> None:
    shown = {shlex.split(line, comments=True)[1] for line in CLI_LINES}
    assert shown == set(cli.commands)


@pytest.mark.parametrize("line", CLI_LINES)
def test_cli_line_parses(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts.txt").write_text("a fox\n")  # batch's file must exist
    name, *args = shlex.split(line, comments=True)[1:]
    group = click.Context(cli, info_name="flux-flex")
    command = cli.get_command(group, name)
    assert command is not None, f"no such command: {name}"
    command.make_context(name, args, parent=group)  # raises on an unknown or bad option


def test_every_cli_option_is_documented() -> None:
    group = click.Context(cli, info_name="flux-flex")
    undocumented = [
        f"{name} {option}"
        for name, command in cli.commands.items()
        for param in command.get_params(group)
        if isinstance(param, click.Option) and not param.hidden
        for option in param.opts
        if option.startswith("--") and option not in ("--help", "--debug") and option not in README
    ]
    assert undocumented == []
