"""Where the API key may go: the rule, as pure code.

``x-key`` is sent only to the configured base URL's host, to HTTPS hosts under ``bfl.ai``
(the vendor's API hosts: ``api.bfl.ai``, ``api.eu.bfl.ai``, ``api.us.bfl.ai``,
``api.eu1.bfl.ai``, ``api.us1.bfl.ai``...), and to the hosts the user trusts explicitly.
URLs are parsed with httpx's parser, the one that decides where the request really goes,
so a URL cannot look like one host here and connect to another.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import attrs
import httpx

__all__ = ["VENDOR_DOMAIN", "KeyDestinations", "host_of", "key_may_go_to"]

VENDOR_DOMAIN = "bfl.ai"
_PLAIN_URL_LENGTH = 4096


@functools.lru_cache(maxsize=256)
def _parse(url: str) -> tuple[str, str] | None:
    # Cached: a wait polls the same URL again and again.
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if not parsed.host:
        return None
    return parsed.scheme.lower(), parsed.host.lower()


def host_of(url: str) -> str | None:
    """The host ``url`` connects to (lower case), or None when it has none."""
    parsed = _parse(url)
    return None if parsed is None else parsed[1]


def key_may_go_to(url: str, *, base_url: str | None, trusted_hosts: Iterable[str] = ()) -> bool:
    """Whether a request to ``url`` may carry the API key.

    True for the host of ``base_url`` (over the base URL's scheme or HTTPS), for HTTPS
    hosts under ``bfl.ai``, and for ``trusted_hosts`` (exact host names, any scheme).
    """
    target = _parse(url)
    if target is None:
        return False
    scheme, host = target
    if host in trusted_hosts:
        return True
    if scheme == "https" and (host == VENDOR_DOMAIN or host.endswith("." + VENDOR_DOMAIN)):
        return True
    base = _parse(base_url) if base_url else None
    return base is not None and host == base[1] and scheme in (base[0], "https")


def _lower_set(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(host.lower() for host in hosts)


def _under(base_url: str | None) -> str | None:
    """``base_url`` (when it has a host) ending in ``/``: every URL that starts with it has
    the base URL's own scheme and authority, so the same host (see `KeyDestinations`)."""
    if not base_url or _parse(base_url) is None:
        return None
    return base_url.rstrip("/") + "/"


@attrs.frozen
class KeyDestinations:
    """The rule bound to a client's configuration: its base URL and its trusted hosts."""

    base_url: str | None = None
    trusted_hosts: frozenset[str] = attrs.field(default=frozenset(), converter=_lower_set)
    # Every request a client makes to its own API starts with this: such a URL is allowed
    # without parsing it (each new task's polling URL would otherwise be parsed once). The
    # authority of a URL ends at the first "/" after "//", so a URL that starts with the
    # base URL and a "/" has the base URL's scheme, user info, host and port. Only for
    # plain URLs (printable, not huge): any other goes through the parser, which refuses
    # those httpx would refuse.
    _under: str | None = attrs.field(init=False, repr=False, eq=False)

    @_under.default
    def _under_base(self) -> str | None:
        return _under(self.base_url)

    def allows(self, url: str) -> bool:
        """Whether ``url`` may receive the API key."""
        under = self._under
        if (
            under is not None
            and url.startswith(under)
            and len(url) <= _PLAIN_URL_LENGTH
            and url.isprintable()
        ):
            return True
        return key_may_go_to(url, base_url=self.base_url, trusted_hosts=self.trusted_hosts)
