"""Where a journal lives: a path, ``sqlite:///relative``, ``sqlite:////absolute`` or a
``postgresql://`` (also ``postgres://``) URL; the password never leaves this module in text."""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs

from flux_flex.errors import JournalError

__all__ = ["ENV_VAR", "Target", "parse_target", "redact", "target_from_env"]

ENV_VAR = "FLUX_FLEX_JOURNAL"
"""The environment variable naming the journal when a caller passes none."""

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


@attrs.frozen
class Target:
    """A parsed journal location. ``kind``: ``sqlite`` or ``postgresql``."""

    kind: str
    path: str | None = None
    """For SQLite: the absolute file path."""
    url: str | None = attrs.field(default=None, repr=False)
    """For PostgreSQL: the URL as given (with its password: never print it)."""
    shown: str = ""
    """How messages name it: the path, or the URL with its password replaced by ***."""
    host: str | None = None
    port: int | None = None
    password: str | None = attrs.field(default=None, repr=False)


def parse_target(target: str | os.PathLike[str]) -> Target:
    """The journal ``target`` names, or `JournalError` for a scheme that is not one (before
    anything is opened or sent)."""
    text = os.fspath(target)
    match = _SCHEME.match(text)
    if match is None or _WINDOWS_DRIVE.match(text):
        path = os.path.abspath(text)
        return Target("sqlite", path=path, shown=path)
    scheme = match.group(1).lower()
    if scheme == "sqlite":
        rest = text[len("sqlite://") :]
        if not rest.startswith("/") or rest == "/":
            raise _bad(text, "a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
        # SQLAlchemy's convention: three slashes then a relative path, four for an absolute.
        path = os.path.abspath(unquote(rest[1:].split("?", 1)[0]))
        return Target("sqlite", path=path, shown=path)
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError as exc:
            raise _bad(redact(text), f"its port is not a number ({exc})") from None
        return Target(
            "postgresql",
            url=text,
            shown=redact(text),
            host=parts.hostname or "localhost",
            port=port or 5432,
            password=unquote(parts.password) if parts.password else None,
        )
    raise _bad(
        redact(text),
        f"the scheme {scheme}:// is not a journal: use a file path, sqlite:///path or "
        "postgresql://user@host/database",
    )


def redact(url: str) -> str:
    """``url`` with its password (in the authority or a ``password=`` parameter) as ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that cannot be read>"
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def target_from_env(given: str | os.PathLike[str] | None, default: str | None = None) -> str | None:
    """The journal to use: ``given``, else ``$FLUX_FLEX_JOURNAL``, else ``default``."""
    if given is not None:
        return os.fspath(given)
    from_env = os.environ.get(ENV_VAR, "").strip()
    return from_env or default


def _bad(shown: str, why: str) -> JournalError:
    return JournalError(f"{shown!r} is not a task journal location: {why}.", path=shown)
