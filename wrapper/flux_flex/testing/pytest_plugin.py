"""pytest plugin (entry point ``flux_flex``): the ``fake_bfl`` fixture.

    def test_generate(fake_bfl):
        client = FluxFlex(api_key=fake_bfl.api_key, base_url=fake_bfl.base_url)

    @pytest.mark.fake_bfl(task_seconds=0.5, max_in_flight=2)
    def test_slow(fake_bfl): ...

The fixture starts a fresh ``FakeBFL`` per test (tasks of 0.05 s, webhook retries scaled
by 0.01); the ``fake_bfl`` marker passes other ``FakeBFL`` keyword arguments.
Importing this plugin needs only the core; the fixture needs ``flux-flex[fake]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flux_flex.testing import FakeBFL

FIXTURE_DEFAULTS: dict[str, Any] = {"task_seconds": 0.05, "webhook_retry_scale": 0.01}


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_bfl`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers", "fake_bfl(**options): keyword arguments for the fake_bfl fixture's FakeBFL"
    )


@pytest.fixture
def fake_bfl(request: pytest.FixtureRequest) -> Iterator[FakeBFL]:
    """A running fake of the FLUX.2 [FLEX] API on 127.0.0.1, stopped after the test."""
    from flux_flex.testing import FakeBFL

    options = dict(FIXTURE_DEFAULTS)
    marker = request.node.get_closest_marker("fake_bfl")
    if marker is not None:
        options.update(marker.kwargs)
    with FakeBFL(**options) as fake:
        yield fake
