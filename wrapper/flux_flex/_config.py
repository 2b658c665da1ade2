"""Where the API is and which key to use: arguments, then environment, then defaults."""

from __future__ import annotations

import os

import attrs

from flux_flex.errors import ConfigurationError

__all__ = ["DEFAULT_BASE_URL", "REGIONS", "Settings", "resolve_settings"]

DEFAULT_BASE_URL = "https://api.bfl.ai"
REGIONS = {
    "global": "https://api.bfl.ai",
    "eu": "https://api.eu.bfl.ai",
    "us": "https://api.us.bfl.ai",
}


def mask(secret: str | None) -> str:
    """A secret as it may appear in repr and logs."""
    return "None" if secret is None else "'***'"


@attrs.frozen
class Settings:
    """The resolved configuration. The key never shows in repr."""

    api_key: str = attrs.field(repr=False)
    base_url: str


def resolve_settings(api_key: str | None, base_url: str | None, region: str | None) -> Settings:
    """``api_key`` or ``$BFL_API_KEY``; ``base_url``, else ``region``, else ``$BFL_BASE_URL``,
    else the global host."""
    key = api_key if api_key is not None else os.environ.get("BFL_API_KEY")
    if not key or not key.strip():
        raise ConfigurationError(
            "No API key: set the BFL_API_KEY environment variable, or pass "
            "api_key=... to the client."
        )
    if region is not None and region.lower() not in REGIONS:
        raise ConfigurationError(
            f"Unknown region {region!r}: use one of {', '.join(sorted(REGIONS))}, or pass "
            "base_url=... instead."
        )
    if base_url is not None and region is not None:
        raise ConfigurationError(
            "Pass either base_url or region, not both (region only picks a base URL)."
        )
    if base_url is None:
        base_url = REGIONS[region.lower()] if region else os.environ.get("BFL_BASE_URL")
    base_url = (base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    if not base_url.lower().startswith(("http://", "https://")):
        raise ConfigurationError(
            f"base_url must start with http:// or https://, not {base_url!r}: fix the base_url "
            "argument or BFL_BASE_URL."
        )
    return Settings(api_key=key.strip(), base_url=base_url)
