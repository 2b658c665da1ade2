"""Whole-exchange deadlines for httpx: every socket operation is capped at the time left.

httpx's timeouts apply to each socket operation, so a server that drip-feeds one byte a
second never trips a 30 s read timeout and holds a request for as long as it likes (httpx
issue #1450). httpx has no overall timeout; httpcore lets the network layer be replaced.
`install` wraps the network backend of a client's transports: inside `exchange_deadline`,
every connect, read, write and TLS handshake gets ``min(its timeout, time left)``, and one
attempted after the deadline fails at once as a timeout (``httpx.ReadTimeout`` & co.). The
deadline lives in a context variable, so one wrapper serves the sync and async drivers,
every request on a pooled connection sees its own deadline, and the wrapper does nothing
for requests made outside flux-flex.

Limits: name resolution (``getaddrinfo``) is not bounded (the OS resolver gives no handle);
a transport that is not httpx's own (a mock, a custom one) is left as it is, and the driver
then bounds the exchange only between body chunks (see `_drivers`).
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = ["exchange_deadline", "install", "time_left"]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "flux_flex_exchange_deadline", default=None
)
# A sync write sends at most this much per socket operation, so a server reading slowly
# cannot stretch one write past the deadline (httpcore loops over partial sends).
_WRITE_PIECE = 64 * 1024


@contextlib.contextmanager
def exchange_deadline(deadline: float | None) -> Iterator[None]:
    """Within the block, socket operations end by ``deadline`` (`time.monotonic` time)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def set_deadline(deadline: float | None) -> None:
    """Move the current exchange's deadline (e.g. from the headers' bound to the body's)."""
    _deadline.set(deadline)


def time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` capped at the time left; raises ``expired`` once the deadline has passed."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the exchange's deadline has passed")
    return left if timeout is None or timeout > left else timeout


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if len(buffer) <= _WRITE_PIECE:
            self._inner.write(buffer, time_left(timeout, httpcore.WriteTimeout))
            return
        for start in range(0, len(buffer), _WRITE_PIECE):
            piece = buffer[start : start + _WRITE_PIECE]
            self._inner.write(piece, time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limit = time_left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        limit = time_left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_tcp(host, port, limit, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        limit = time_left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_unix_socket(path, limit, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, time_left(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # One bounded operation: the async backends apply the timeout to the whole write.
        await self._inner.write(buffer, time_left(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit = time_left(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit = time_left(timeout, httpcore.ConnectTimeout)
        stream = await self.inner.connect_tcp(host, port, limit, local_address, socket_options)
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        limit = time_left(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self.inner.connect_unix_socket(path, limit, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def install(client: httpx.Client | httpx.AsyncClient) -> bool:
    """Wrap the network backend of each of ``client``'s httpx transports (once).

    True when every transport could be wrapped. Reaches into httpx/httpcore attributes
    (``_transport``, ``_mounts``, ``_pool._network_backend``: httpx has no public hook for
    a network backend), so it checks each step and leaves what it does not recognise
    alone; a test pins that it works with the httpx in use. Connections already open in a
    client passed in keep their unwrapped sockets until they are closed.
    """
    transports = [getattr(client, "_transport", None)]
    transports += list((getattr(client, "_mounts", None) or {}).values())
    complete = True
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, _Backend | _AsyncBackend):
            continue
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
        elif isinstance(backend, httpcore.AsyncNetworkBackend):
            pool._network_backend = _AsyncBackend(backend)  # type: ignore[union-attr]
        else:
            complete = False
    return complete


def installed(client: httpx.Client | httpx.AsyncClient) -> bool:
    """Whether ``client``'s main transport enforces exchange deadlines."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    return isinstance(getattr(pool, "_network_backend", None), _Backend | _AsyncBackend)


__all__ += ["installed", "set_deadline"]
