"""Where the CLI's client talks to: the real API (key from the environment) or the fake.

``--mock`` starts ``flux_flex.testing.FakeBFL`` in this process and points the client at
it. Without ``--mock`` the key comes from an environment variable, never from a flag value
(a flag would land in the shell history).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import attrs

from flux_flex.cli.failures import CliUsageError

if TYPE_CHECKING:
    from flux_flex.async_client import AsyncFluxFlex
    from flux_flex.client import FluxFlex

__all__ = [
    "DEFAULT_KEY_ENV",
    "MISSING_FAKE_EXTRA",
    "Connection",
    "Endpoint",
    "no_key_message",
    "open_endpoint",
    "read_secret_env",
]

DEFAULT_KEY_ENV = "BFL_API_KEY"
MISSING_FAKE_EXTRA = (
    "--mock needs the built-in fake's dependencies (starlette, uvicorn, pillow, jsonschema): "
    "pip install 'flux-flex[fake]'"
)


@attrs.frozen
class Connection:
    """What the user asked for on the command line."""

    mock: bool = False
    offers_mock: bool = True  # does the command have --mock (for the no-key message)
    mock_task_seconds: float = 1.0
    api_key_env: str = DEFAULT_KEY_ENV
    base_url: str | None = None
    region: str | None = None


@attrs.frozen
class Endpoint:
    """What the client is built from. ``api_key`` is a secret: never printed."""

    api_key: str = attrs.field(repr=False)
    base_url: str | None
    region: str | None
    mock: bool

    def sync_client(self) -> FluxFlex:
        """A `FluxFlex` for this endpoint (imported here: httpx is not needed for --help)."""
        from flux_flex.client import FluxFlex

        return FluxFlex(api_key=self.api_key, base_url=self.base_url, region=self.region)

    def async_client(self) -> AsyncFluxFlex:
        """An `AsyncFluxFlex` for this endpoint."""
        from flux_flex.async_client import AsyncFluxFlex

        return AsyncFluxFlex(api_key=self.api_key, base_url=self.base_url, region=self.region)


def no_key_message(api_key_env: str, *, offers_mock: bool = True) -> str:
    """The message for a missing key: it names both ways forward."""
    key = f"no API key: set {api_key_env} to your BFL API key (made in your BFL dashboard)"
    if offers_mock:
        return f"{key}, or add --mock to run offline against the built-in fake API (no key needed)."
    return (
        f"{key}, or point BFL_BASE_URL and {api_key_env} at a fake API "
        "(flux-flex mock-server prints both)."
    )


def read_secret_env(name: str, *, what: str) -> str:
    """The value of environment variable ``name``; a usage error naming it when unset."""
    value = os.environ.get(name, "")
    if not value:
        raise CliUsageError(f"environment variable {name} is not set; it should hold {what}.")
    return value


@contextmanager
def open_endpoint(connection: Connection) -> Iterator[Endpoint]:
    """Yield where to connect; with ``mock`` a fake API runs until the block ends."""
    if not connection.mock:
        key = os.environ.get(connection.api_key_env, "")
        if not key:
            raise CliUsageError(
                no_key_message(connection.api_key_env, offers_mock=connection.offers_mock)
            )
        yield Endpoint(
            api_key=key, base_url=connection.base_url, region=connection.region, mock=False
        )
        return
    from flux_flex.testing import FakeBFL

    fake = FakeBFL(task_seconds=connection.mock_task_seconds)
    try:
        fake.start()
    except ImportError as exc:
        raise CliUsageError(MISSING_FAKE_EXTRA) from exc
    try:
        yield Endpoint(api_key=fake.api_key, base_url=fake.base_url, region=None, mock=True)
    finally:
        fake.stop()
