"""`install`: wrap a client's httpcore network backend so that every socket operation is
capped at the exchange's time left (`flux_flex._deadlines` holds the deadline and the rule).

A module of its own because its classes subclass httpcore's: the drivers import it when
they are given a client, by which time httpx has loaded httpcore to build the client's
transport, so importing flux-flex does not pay for httpcore.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from flux_flex._deadlines import time_left

__all__ = ["install", "installed"]

# A sync write sends at most this much per socket operation, so a server reading slowly
# cannot stretch one write past the deadline (httpcore loops over partial sends).
_WRITE_PIECE = 64 * 1024


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
