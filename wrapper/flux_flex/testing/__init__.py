"""Offline testing support: a fake of the FLUX.2 [FLEX] API over real HTTP.

    from flux_flex.testing import FakeBFL

    with FakeBFL(task_seconds=0.1) as fake:
        client = FluxFlex(api_key=fake.api_key, base_url=fake.base_url)
        client.generate("a fox", save_to="fox.png")
        assert fake.count("POST", "/v1/flux-2-flex") == 1

What the fake does (``FakeBFL`` documents every option):

* ``POST /v1/flux-2-flex`` validated against the spec packaged with flux-flex (422 in
  FastAPI's shape, 401/403 for a missing/wrong ``x-key``), 429 beyond ``max_in_flight``;
* ``GET /v1/get_result?id=`` answers ``Pending`` with a 0..1 ``progress`` until the task's
  duration has passed, then ``Ready`` (or a status chosen by a prompt marker such as
  ``[fail]``, ``[moderate-content]``, ``[moderate-request]``); ``Task not found`` otherwise;
* ``result.sample`` is a key-less URL on the fake serving a real PNG/JPEG of the requested
  size, deterministic for prompt and seed, expiring after ``sample_ttl``;
* webhooks to loopback URLs, signed both ways, retried after 1/5/30 s × ``webhook_retry_scale``.

What a test can inspect: ``requests`` (secrets masked), ``tasks``, ``deliveries``,
``downloads``, ``connections``, ``rate_limited``, ``count(method, path)``; and inject:
``fail_next``, ``drop_next``, ``stall_next``, ``malformed_next``, ``cut_download_next``.

Importing this module needs only the core; starting a fake needs the ``fake`` extra
(``pip install 'flux-flex[fake]'``). pytest users get the ``fake_bfl`` fixture, and
``python -m flux_flex.testing`` (or ``flux-flex mock-server``) serves one until Ctrl-C.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flux_flex._core.pricing import credits, megapixels

    from ._config import DEFAULT_BALANCE, DEFAULT_LIFECYCLE, DEFAULT_MARKERS, FakeConfig
    from ._records import Delivery, FakeTask, RecordedRequest
    from ._server import DELIVERY_PATH, FakeBFL, serve

# Names load on first use, so importing a submodule (the CLI reads `_options`) stays cheap.
_EXPORTS = {
    "DEFAULT_BALANCE": "flux_flex.testing._config",
    "DEFAULT_LIFECYCLE": "flux_flex.testing._config",
    "DEFAULT_MARKERS": "flux_flex.testing._config",
    "DELIVERY_PATH": "flux_flex.testing._server",
    "Delivery": "flux_flex.testing._records",
    "FakeBFL": "flux_flex.testing._server",
    "FakeConfig": "flux_flex.testing._config",
    "FakeTask": "flux_flex.testing._records",
    "RecordedRequest": "flux_flex.testing._records",
    "credits": "flux_flex._core.pricing",
    "megapixels": "flux_flex._core.pricing",
    "serve": "flux_flex.testing._server",
}

__all__ = [
    "DEFAULT_BALANCE",
    "DEFAULT_LIFECYCLE",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flux_flex.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
