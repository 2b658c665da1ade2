"""One test body for both clients, as openai-python's suite has: the `flavour` fixture
(tests/conftest.py) runs a test once with `FluxFlex` and once with `AsyncFluxFlex`.

`Flavour.client(...)` builds the client of the flavour. The async one comes behind the sync
client's face (`Blocking`): every coroutine it hands out is run to completion on the test's
own event loop, and the `AsyncJob`/`AsyncResult` it returns are wrapped the same way. So a
test reads like a user's sync code::

    def test_generate(flavour: Flavour) -> None:
        client = flavour.client(api_key="k")
        assert client.generate("fox").url

and still drives the async client's own code (its driver, its streaming to disk) when the
flavour is "async". A behaviour only one client has stays a plain test.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import httpx
import pytest
from flux_flex import AsyncFluxFlex, AsyncJob, AsyncResult, FluxFlex

__all__ = [
    "FLAVOURS",
    "Blocking",
    "Flavour",
    "FlavourName",
    "TwoWayStream",
    "skip_certificate_loading",
]

T = TypeVar("T")
FlavourName = Literal["sync", "async"]
FLAVOURS: list[FlavourName] = ["sync", "async"]


class Flavour:
    """The sync or the async client for one test; closes what it built when the test ends."""

    def __init__(self, name: FlavourName) -> None:
        self.name = name
        self._runner: asyncio.Runner | None = None
        self._closers: list[Callable[[], object]] = []

    def __repr__(self) -> str:
        return f"Flavour({self.name!r})"

    @property
    def is_async(self) -> bool:
        """True for the async client."""
        return self.name == "async"

    def client(self, *args: Any, **options: Any) -> FluxFlex:
        """`FluxFlex(*args, **options)`, or `AsyncFluxFlex` behind the same face."""
        built = (AsyncFluxFlex if self.is_async else FluxFlex)(*args, **options)
        return self.adopt(built)

    def adopt(self, client: FluxFlex | AsyncFluxFlex) -> FluxFlex:
        """A client built elsewhere (by a suite's own builder), closed when the test ends."""
        if isinstance(client, AsyncFluxFlex):
            self._closers.append(lambda: self.run(client.close()))
            return cast(FluxFlex, Blocking(client, self))
        self._closers.append(client.close)
        return client

    def http_client(self, **options: Any) -> httpx.Client:
        """The user's own `httpx.Client`, or `httpx.AsyncClient` for the async flavour (closed
        when the test ends). Plain functions given as event hooks are made awaitable."""
        if not self.is_async:
            sync = httpx.Client(**options)
            self._closers.append(sync.close)
            return sync
        hooks = options.pop("event_hooks", {})
        options["event_hooks"] = {
            event: [_awaitable(hook) for hook in functions] for event, functions in hooks.items()
        }
        made = httpx.AsyncClient(**options)
        self._closers.append(lambda: self.run(made.aclose()))
        return cast(httpx.Client, made)

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` to its end on this test's event loop (one loop per test, so
        the async client's connections stay on the loop that opened them)."""
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(_coroutine(awaitable))

    def wrap(self, value: Any) -> Any:
        """``value`` with every async client, job or result in it behind a sync face (lists
        and tuples of outcomes included); anything else as it is."""
        if isinstance(value, AsyncFluxFlex | AsyncJob | AsyncResult):
            return Blocking(value, self)
        if isinstance(value, list | tuple):
            return type(value)(self.wrap(item) for item in value)
        return value

    def close(self) -> None:
        """Close every client built for the test (last first), then the event loop."""
        try:
            while self._closers:
                self._closers.pop()()
        finally:
            if self._runner is not None:
                self._runner.close()
                self._runner = None


class Blocking:
    """An async object behind a sync face: its coroutines are run to completion by
    `Flavour.run`, its async context manager becomes a sync one."""

    def __init__(self, target: Any, flavour: Flavour) -> None:
        self._target = target
        self._flavour = flavour

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value) or isinstance(value, type):
            return self._flavour.wrap(value)

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            out = value(*map(unwrap, args), **{k: unwrap(v) for k, v in kwargs.items()})
            if inspect.isawaitable(out):
                out = self._flavour.run(out)
            return self._flavour.wrap(out)

        return call

    def __repr__(self) -> str:
        return repr(self._target)

    def __str__(self) -> str:
        return str(self._target)

    def __enter__(self) -> Blocking:
        self._flavour.run(self._target.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._flavour.run(self._target.__aexit__(*exc))


def unwrap(value: Any) -> Any:
    """The async object behind a `Blocking` face (anything else as it is)."""
    return value._target if isinstance(value, Blocking) else value


class TwoWayStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body for either client: ``chunks`` in turn, then ``error`` if given (a
    connection lost mid-body)."""

    def __init__(self, *chunks: bytes, error: Exception | None = None) -> None:
        self.chunks = chunks
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error


def skip_certificate_loading(monkeypatch: pytest.MonkeyPatch, empty_folder: Path) -> None:
    """Let clients built in a test skip loading a certificate bundle: for tests that never
    speak TLS (respx answers in-process; the fakes are plain HTTP on 127.0.0.1).

    httpx builds each client's TLS context from ``$SSL_CERT_FILE``, else ``$SSL_CERT_DIR``,
    else certifi's bundle; loading a bundle takes ~50 ms, most of what building a client
    costs, and the client suites build several hundred. An empty folder costs nothing.
    """
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(empty_folder))


def _awaitable(hook: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    if inspect.iscoroutinefunction(hook):
        return hook

    async def hooked(*args: Any) -> Any:
        return hook(*args)

    return hooked


async def _coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
