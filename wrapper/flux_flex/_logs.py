"""``FLUX_FLEX_LOG=debug|info``: the library's own logging on, to stderr, without touching
the application's logging setup (as openai-python's ``OPENAI_LOG``).

``info`` shows one line per resend ("submitting: connection refused; retrying in 1.2 s
(1/2)"); ``debug`` adds every exchange (method, URL without its query, status, time). What
is logged never holds the API key or a webhook secret.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

__all__ = ["ENV", "StderrHandler", "setup_from_env"]

ENV = "FLUX_FLEX_LOG"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (following redirections: tests, pipes)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_from_env(environ: Mapping[str, str] = os.environ) -> None:
    """Turn on the ``flux_flex`` logger at the level ``FLUX_FLEX_LOG`` names (once per
    process); any other value, or none, changes nothing."""
    level = LEVELS.get(environ.get(ENV, "").strip().lower())
    if level is None:
        return
    logger = logging.getLogger("flux_flex")
    if not any(isinstance(handler, _EnvHandler) for handler in logger.handlers):
        handler = _EnvHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)


class _EnvHandler(StderrHandler):
    """The handler `setup_from_env` adds (told apart so it is added once)."""
