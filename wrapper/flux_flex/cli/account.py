"""``flux-flex credits``: the account's balance (``GET /v1/credits``; nothing is billed)."""

from __future__ import annotations

from flux_flex.cli.connection import Connection, open_endpoint
from flux_flex.cli.failures import ExitCode
from flux_flex.cli.output import emit_json, format_cost, print_fields

__all__ = ["show_credits"]


def show_credits(connection: Connection, *, as_json: bool) -> int:
    """Print the balance in credits (and US dollars)."""
    with open_endpoint(connection) as endpoint, endpoint.sync_client() as client:
        balance = client.credits()
        base_url = client.base_url
    if as_json:
        emit_json({"ok": True, "id": None, "credits": balance, "base_url": base_url})
    else:
        print_fields(f"balance: {format_cost(balance)}", [("api", base_url)])
    return ExitCode.OK
