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
