"""Whole-exchange deadlines for httpx: every socket operation is capped at the time left.

httpx's timeouts apply to each socket operation, so a server that drip-feeds one byte a
second never trips a 30 s read timeout and holds a request for as long as it likes (httpx
issue #1450). httpx has no overall timeout; httpcore lets the network layer be replaced.
`flux_flex._deadline_network.install` wraps the network backend of a client's transports
(a module apart, as it subclasses httpcore's classes): inside `exchange_deadline` (or
between `begin` and `end`), every connect, read, write and TLS handshake gets
``min(its timeout, time left)``, and one attempted after the deadline fails at once as a
timeout (``httpx.ReadTimeout`` & co.). The deadline lives in a context variable, so one
wrapper serves the sync and async drivers, every request on a pooled connection sees its
own deadline, and the wrapper does nothing for requests made outside flux-flex.

Limits: name resolution (``getaddrinfo``) is not bounded (the OS resolver gives no handle);
a transport that is not httpx's own (a mock, a custom one) is left as it is, and the driver
then bounds the exchange only between body chunks (see `_drivers`).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

__all__ = ["begin", "end", "exchange_deadline", "set_deadline", "time_left"]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "flux_flex_exchange_deadline", default=None
)


# The drivers' form of `exchange_deadline`, without the cost of a context manager or even
# of a Python call on every request (these are the context variable's own methods):
begin = _deadline.set
"""``begin(deadline)``: from now on, socket operations end by ``deadline`` (`time.monotonic`
time); returns the token to give to `end` (in a ``finally``)."""
end = _deadline.reset
"""``end(token)``: restore the deadline in force before `begin` returned ``token``."""
set_deadline = _deadline.set
"""``set_deadline(deadline)``: move the current exchange's deadline (e.g. from the headers'
bound to the body's); `end` restores what was in force before `begin` all the same."""


@contextlib.contextmanager
def exchange_deadline(deadline: float | None) -> Iterator[None]:
    """Within the block, socket operations end by ``deadline`` (`time.monotonic` time)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` capped at the time left; raises ``expired`` once the deadline has passed."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the exchange's deadline has passed")
    return left if timeout is None or timeout > left else timeout
