"""Offline testing support: a fake of the FLUX.2 [FLEX] API over real HTTP.

    from flux_flex.testing import FakeBFL

    with FakeBFL(task_seconds=0.1) as fake:
        client = FluxFlex(api_key=fake.api_key, base_url=fake.base_url)
        client.generate("a fox", save_to="fox.png")
        assert fake.count("POST", "/v1/flux-2-flex") == 1

What the fake does, following the vendor's 2026-09 document (``FakeBFL`` documents every
option):

* ``POST /v1/flux-2-flex`` validated against the spec packaged with flux-flex (422 in
  FastAPI's shape, ``user`` and ``webp`` included), 401/403 for a missing/wrong ``x-key``,
  429 beyond ``max_in_flight``, 402 when the task costs more than the ``balance`` left
  (no task is created); ``GET /v1/credits`` answers ``{"credits": balance}``.
* Lifecycle: ``Pending`` -> ``Reasoning`` -> ``Generating`` -> final, the running
  statuses sharing ``task_seconds`` unless ``lifecycle`` gives them seconds of their own.
  The vendor lists these statuses but not their order or what they depend on: this order,
  and ``Reasoning`` only when ``prompt_upsampling`` is not false, are OUR assumptions
  (``reasoning_needs_upsampling=False`` serves it always). ``script`` (or a marker mapped
  to a list) serves any sequence of statuses instead, unknown ones included, for every
  task or per task; a script ending in a running status never finishes.
* ``GET /v1/get_result?id=`` answers the status of the moment with ``progress`` (0..1,
  or null/absent with ``progress="null"``/``"omit"``); the Ready answer carries the
  settled ``cost`` (ResultWithCostResponse), running ones do not (``cost_on_poll``);
  a prompt marker such as ``[fail]``, ``[moderate-content]``, ``[moderate-request]``
  chooses the final status; an unknown id answers ``Task not found``.
* Pricing is ``flux_flex._core.pricing``'s: megapixels = width x height / 10^6, reported
  with 2 decimals, 5 credits per MP linearly (1024x1024: 1.05 MP, 5.24 credits). A base64
  input image counts by its real size (read from its header); a URL input cannot be
  fetched offline and counts as ``pricing.UNKNOWN_INPUT_MP`` (1 MP).
* ``result.sample`` is a key-less URL on the fake serving a real PNG/JPEG/WebP of the
  requested size, deterministic for prompt and seed, expiring after ``sample_ttl``.
* Errors other than 422 come as FastAPI's ``{"detail": "..."}`` or, with
  ``error_shape="error"``, the guide's ``{"error": code, "message", "details"}`` (codes
  ``invalid_api_key``, ``insufficient_credits``, ``rate_limit_exceeded``...).
* Webhooks to loopback URLs, with an ISO 8601 ``timestamp``, ``error`` (a code such as
  ``generation_failed``, ``content_policy_violation``) and ``message`` on failures,
  authenticated per ``webhook_auth`` (``"hmac"``: ``X-BFL-Signature``, the default;
  ``"secret"``: the secret echoed in ``X-Webhook-Secret``; ``"both"``), retried after
  1/5/30 s x ``webhook_retry_scale``.

What a test can inspect: ``requests`` (secrets masked), ``tasks`` (each with ``statuses``
and ``status_at(t)``), ``deliveries``, ``downloads``, ``connections``, ``rate_limited``,
``peak_in_flight`` (the most tasks in flight at once), ``balance``, ``spent``,
``count(method, path)``; and inject: ``fail_next``, ``drop_next``, ``stall_next``,
``malformed_next``, ``cut_download_next``.

Importing this module needs only the core; starting a fake needs the ``fake`` extra
(``pip install 'flux-flex[fake]'``). pytest users get the ``fake_bfl`` fixture, and
``python -m flux_flex.testing`` (or ``flux-flex mock-server``) serves one until Ctrl-C,
every setting a flag or a key of a ``--config`` file (JSON or TOML; see ``_options``).
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
