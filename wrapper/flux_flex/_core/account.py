"""The account's side of the API: the credit balance (``GET /v1/credits``), as a flow."""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence

from flux_flex._core.actions import Action, Answer, HttpRequest
from flux_flex._core.flows import FlowEnv, send_with_retries
from flux_flex._core.redact import mask_secrets
from flux_flex.errors import ProtocolError

__all__ = ["credits_flow", "interpret_credits"]


def interpret_credits(content: bytes, *, secrets: Sequence[str | None] = ()) -> float:
    """The balance in a 200 answer (CreditsResponse); `ProtocolError` when it has none."""
    # The generated package is imported on use: importing flux-flex need not load it.
    from flux_flex_api.models.credits_response import CreditsResponse

    try:
        payload = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        payload = content.decode("utf-8", errors="replace")
    parsed = None
    if isinstance(payload, Mapping):
        try:
            parsed = CreditsResponse.from_dict(payload)
        except (KeyError, TypeError, ValueError, AttributeError):
            parsed = None
    value = parsed.credits_ if parsed is not None else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(
            "The balance answer (GET /v1/credits) has no numeric 'credits'. Report this "
            "payload; the API may have changed.",
            raw=mask_secrets(payload, secrets),
        )
    return float(value)


def credits_flow(base_url: str, env: FlowEnv) -> Generator[Action, Answer, float]:
    """Ask for the account's balance (with the key; resent on 5xx and broken links)."""
    from flux_flex_api.api.account import get_credits

    kwargs = get_credits._get_kwargs()
    request = HttpRequest(kwargs["method"].upper(), base_url + kwargs["url"], idempotent=True)
    response = yield from send_with_retries(request, env)
    return interpret_credits(response.content, secrets=env.secrets)
