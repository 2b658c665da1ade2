"""``mock-server`` and ``webhook-listen``: blocking servers provided by other packages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

from flux_flex.cli.connection import MISSING_FAKE_EXTRA, read_secret_env
from flux_flex.cli.failures import CliUsageError, ExitCode

__all__ = ["mock_server", "webhook_listen"]


def _echo(text: str) -> None:
    click.echo(text)


@contextmanager
def _serving(what: str, missing_extra: str) -> Iterator[None]:
    """Turn the ways a blocking server fails to start into one clear line, and Ctrl-C into a stop.

    The server functions import their dependencies lazily and bind their port first, so both
    a missing extra (ImportError) and a taken port (OSError) surface from the call itself.
    """
    try:
        yield
    except ImportError as exc:
        raise CliUsageError(missing_extra) from exc
    except KeyboardInterrupt:
        click.echo(f"{what} stopped.", err=True)
    except OSError as exc:  # the servers word it: which address, and to pick another port
        raise CliUsageError(str(exc)) from exc


def mock_server(options: Mapping[str, Any], *, config_file: str | None = None) -> int:
    """Serve `flux_flex.testing`'s fake API until interrupted, configured by ``options``
    (option key -> raw flag value) over the config file."""
    from flux_flex.testing._options import settings

    try:
        values, faults = settings(options, config_file)
    except ValueError as exc:
        raise CliUsageError(str(exc)) from exc
    host = values.pop("host", "127.0.0.1")
    port = values.pop("port", 8787)
    values.setdefault("task_seconds", 2.0)
    missing = MISSING_FAKE_EXTRA.replace("--mock", "mock-server")
    with _serving("mock server", missing):
        from flux_flex.testing import serve

        serve(host, port, echo=_echo, faults=faults, **values)
    return ExitCode.OK


def webhook_listen(
    host: str,
    port: int,
    *,
    secret_envs: tuple[str, ...],
    save_dir: str | None,
    journal: str | None = None,
    out_dir: str | None = None,
) -> int:
    """Run `flux_flex.webhooks.listen` with the secrets read from the environment (and,
    with ``journal``, every final delivery recorded there; ``out_dir``: images saved)."""
    secrets = [read_secret_env(name, what="a webhook secret") for name in secret_envs]
    if out_dir is not None and journal is None:
        raise CliUsageError(
            "--out-dir needs --journal (a path or postgresql://...): the journal makes each "
            "image downloaded once across receivers."
        )
    if journal is not None:
        from flux_flex.journal import parse_target

        parse_target(journal)  # an unknown scheme: a JournalError before serving
    from flux_flex.webhooks import listen

    missing = "webhook-listen needs uvicorn: pip install 'flux-flex[webhooks]'"
    with _serving("webhook listener", missing):
        listen(
            host,
            port,
            secrets=secrets,
            save_dir=save_dir,
            echo=_echo,
            journal=journal,
            out_dir=out_dir,
        )
    return ExitCode.OK
