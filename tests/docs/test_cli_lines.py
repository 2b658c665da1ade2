"""Every ``flux-flex ...`` line of the documentation's bash blocks parses with the real CLI,
every command is shown, and the CLI reference names every option."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest
from flux_flex.cli.app import cli

from .snippets import ROOT, all_snippets

CLI_REFERENCE = ROOT / "docs" / "guides" / "cli.md"
CLI_LINES = sorted(
    {
        line.strip()
        for block in all_snippets("bash")
        for line in block.body.splitlines()
        if line.strip().startswith("flux-flex ")
    }
)


def test_the_docs_show_every_command() -> None:
    shown = {shlex.split(line, comments=True)[1] for line in CLI_LINES}
    assert shown == set(cli.commands)


def test_the_cli_reference_shows_every_command() -> None:
    reference = CLI_REFERENCE.read_text(encoding="utf-8")
    missing = [name for name in cli.commands if f"flux-flex {name}" not in reference]
    assert missing == []


@pytest.mark.parametrize("line", CLI_LINES)
def test_cli_line_parses(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts.txt").write_text("a fox\n")  # batch's file must exist
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # as in a clone: the README's
    name, *args = shlex.split(line, comments=True)[1:]
    group = click.Context(cli, info_name="flux-flex")
    command = cli.get_command(group, name)
    assert command is not None, f"no such command: {name}"
    command.make_context(name, args, parent=group)  # raises on an unknown or bad option


def test_a_wrong_option_does_not_parse() -> None:
    group = click.Context(cli, info_name="flux-flex")
    command = cli.get_command(group, "generate")
    assert command is not None
    with pytest.raises(click.UsageError):
        command.make_context("generate", ["a fox", "--sead", "7"], parent=group)


def test_every_cli_option_is_in_the_cli_reference() -> None:
    reference = CLI_REFERENCE.read_text(encoding="utf-8")
    group = click.Context(cli, info_name="flux-flex")
    undocumented = [
        f"{name} {option}"
        for name, command in cli.commands.items()
        for param in command.get_params(group)
        if isinstance(param, click.Option) and not param.hidden
        for option in param.opts
        if option.startswith("--")
        and option not in ("--help", "--debug")
        and option not in reference
    ]
    assert undocumented == []
