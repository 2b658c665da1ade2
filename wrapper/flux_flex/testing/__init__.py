"""Offline testing support: a fake of the FLUX.2 [FLEX] API over real HTTP.

    from flux_flex.testing import FakeBFL

    with FakeBFL(task_seconds=0.1) as fake:
        client = FluxFlex(api_key=fake.api_key, base_url=fake.base_url)
        ...
        assert fake.count("POST", "/v1/flux-2-flex") == 1

Importing this module needs only the core; starting a fake needs the ``fake`` extra
(``pip install 'flux-flex[fake]'``). pytest users get the ``fake_bfl`` fixture.
"""

from __future__ import annotations

from ._config import DEFAULT_MARKERS, FakeConfig
from ._pricing import credits, megapixels
from ._records import Delivery, FakeTask, RecordedRequest
from ._server import DELIVERY_PATH, FakeBFL, serve

__all__ = [
    "DEFAULT_MARKERS",
    "DELIVERY_PATH",
    "Delivery",
    "FakeBFL",
    "FakeConfig",
    "FakeTask",
    "RecordedRequest",
    "credits",
    "megapixels",
    "serve",
]
