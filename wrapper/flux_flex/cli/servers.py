"""``mock-server`` and ``webhook-listen``: blocking servers provided by other packages."""

from __future__ import annotations

from typing import Any

import click

from flux_flex.cli.connection import MISSING_FAKE_EXTRA, read_secret_env
from flux_flex.cli.failures import CliUsageError, ExitCode

__all__ = ["mock_server", "webhook_listen"]


def _echo(text: str) -> None:
    click.echo(text)


def mock_server(host: str, port: int, *, task_seconds: float | None, api_key: str | None) -> int:
    """Serve `flux_flex.testing`'s fake API until interrupted."""
    try:
        from flux_flex.testing import serve
    except ImportError as exc:
        raise CliUsageError(MISSING_FAKE_EXTRA.replace("--mock", "mock-server")) from exc
    options: dict[str, Any] = {"echo": _echo}
    if task_seconds is not None:
        options["task_seconds"] = task_seconds
    if api_key is not None:
        options["api_key"] = api_key
    try:
        serve(host, port, **options)
    except KeyboardInterrupt:
        click.echo("mock server stopped.", err=True)
    return ExitCode.OK


def webhook_listen(
    host: str, port: int, *, secret_envs: tuple[str, ...], save_dir: str | None
) -> int:
    """Run `flux_flex.webhooks.listen` with the secrets read from the environment."""
    secrets = [read_secret_env(name, what="a webhook secret") for name in secret_envs]
    try:
        from flux_flex.webhooks import listen
    except ImportError as exc:
        raise CliUsageError(
            "webhook-listen needs the server dependencies (starlette, uvicorn): "
            "pip install 'flux-flex[fake]'"
        ) from exc
    try:
        listen(host, port, secrets=secrets, save_dir=save_dir, echo=_echo)
    except KeyboardInterrupt:
        click.echo("webhook listener stopped.", err=True)
    return ExitCode.OK
