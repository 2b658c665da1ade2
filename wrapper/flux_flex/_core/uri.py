"""RFC 3986 ``URI`` (absolute, with optional fragment): what the spec's ``format: uri`` means.

Hand-written because the core may depend only on httpx and attrs. The grammar follows RFC 3986
appendix A, as the `rfc3986-validator` package (which jsonschema's format checker uses) does;
IPv6 literals are checked with `ipaddress` instead of a page-long regex.
"""

from __future__ import annotations

import functools
import ipaddress
import re

__all__ = ["is_uri"]

_UNRESERVED_OR_SUB = r"[A-Za-z0-9\-._~!$&'()*+,;=]"
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:{_UNRESERVED_OR_SUB}|{_PCT}|[:@])"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_USERINFO = rf"(?:(?:{_UNRESERVED_OR_SUB}|{_PCT}|:)*@)?"
_IP_LITERAL = r"\[(?:(?P<ipv6>[0-9A-Fa-f:.]+)|v[0-9A-Fa-f]+\.(?:[A-Za-z0-9\-._~!$&'()*+,;=:])+)\]"
_REG_NAME = rf"(?:{_UNRESERVED_OR_SUB}|{_PCT})*"  # IPv4 addresses match this too

_URI_PATTERN = rf"""
    [A-Za-z][A-Za-z0-9+.\-]*:                                   # scheme
    (?:
        //{_USERINFO}(?:{_IP_LITERAL}|{_REG_NAME})(?::[0-9]*)?  # authority
          (?:/{_PCHAR}*)*                                       # path-abempty
      | /(?:{_PCHAR}+(?:/{_PCHAR}*)*)?                          # path-absolute
      | {_PCHAR}+(?:/{_PCHAR}*)*                                # path-rootless
      |                                                         # path-empty
    )
    (?:\?{_QUERY})?                                             # query
    (?:\#{_QUERY})?                                             # fragment
    """


@functools.cache
def _uri() -> re.Pattern[str]:
    # Compiled on first use (a webhook URL to check), not when flux-flex is imported.
    return re.compile(_URI_PATTERN, re.VERBOSE)


def is_uri(value: str) -> bool:
    """Whether ``value`` is an RFC 3986 URI (scheme required; no spaces, no stray brackets)."""
    match = _uri().fullmatch(value)
    if match is None:
        return False
    literal = match.group("ipv6")
    if literal is None:
        return True
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True
