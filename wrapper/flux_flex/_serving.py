"""uvicorn in the background: the one way flux-flex serves an ASGI app on a local socket.

Used by the offline fake (``flux_flex.testing.FakeBFL``) and the webhook receiver's server
(``flux_flex.webhooks.ReceiverServer``, ``listen``). ``BackgroundServer`` serves from a
thread of its own (``start``/``stop``) or as a task in the running event loop
(``astart``/``astop``); ``wait_until_interrupted`` turns it into a blocking command.

What it gets right once, for both:

* The listening socket is bound before anything is served (``bind``): ``port=0`` picks a
  free port known at once, and a taken port is a clear ``OSError`` from the caller's own
  thread, never a log line inside uvicorn.
* The socket is created with ``IPPROTO_TCP``, which is what makes asyncio set
  ``TCP_NODELAY`` on every accepted connection. Without it, each answer on a keep-alive
  connection waits for the peer's delayed ACK (~40 ms on Linux): a receiver then handles
  about 23 deliveries a second per connection.
* ``stop()`` is prompt: the serving loop is woken at once instead of on uvicorn's 0.1 s
  poll.
* The host program's signal handlers are left alone (uvicorn takes SIGINT/SIGTERM when it
  serves from the main thread, e.g. ``async with`` in a script).

uvicorn is imported only when a server is created, so importing this module is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "BackgroundServer",
    "ConnectionObserver",
    "ConnectionStats",
    "Serving",
    "bind",
    "wait_until_interrupted",
]


def bind(host: str, port: int, *, what: str) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port`` (0: a free port).

    ``what`` names the server in the error (``OSError`` with the errno) when the address
    cannot be bound, e.g. "the fake API" or "webhooks".
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY on accepted sockets only when the
    # listener says TCP. See the module docstring.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections wait in the backlog until the server accepts them
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        raise OSError(
            exc.errno,
            f"Cannot listen for {what} on {shown}:{port}: {exc.strerror or exc}. "
            "Pick another port (0 picks a free one), or stop what is using it.",
        ) from exc
    except BaseException:
        sock.close()
        raise
    return sock


class ConnectionObserver(Protocol):
    """Told about every TCP connection the server accepts and loses (in the server's loop)."""

    def opened(self, transport: asyncio.Transport) -> None:
        """A connection was accepted."""

    def closed(self, transport: asyncio.Transport) -> None:
        """A connection ended."""


class ConnectionStats:
    """Connections accepted so far, and how many of them had ``TCP_NODELAY`` set."""

    def __init__(self) -> None:
        self.accepted: int = 0
        self.nodelay: int = 0

    def __repr__(self) -> str:
        return f"ConnectionStats(accepted={self.accepted}, nodelay={self.nodelay})"

    def count(self, transport: asyncio.Transport) -> None:
        """Count one accepted connection (and whether Nagle's algorithm is off on it)."""
        self.accepted += 1
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
                    self.nodelay += 1


def _observing(
    base: type[asyncio.Protocol], stats: ConnectionStats, observer: ConnectionObserver | None
) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's HTTP protocol class) telling ``stats`` and ``observer`` about
    connections.

    uvicorn has no hook for accepted connections, and the fake needs the transport (to drop
    a connection on purpose), so this subclasses whatever protocol class uvicorn chose,
    overriding only asyncio's own ``Protocol`` callbacks: none of uvicorn's internals.
    """

    class Observed(base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self._observed_transport = transport
            stats.count(transport)
            if observer is not None:
                observer.opened(transport)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if observer is not None:
                observer.closed(self._observed_transport)
            super().connection_lost(exc)

    Observed.__name__ = Observed.__qualname__ = f"Observed{base.__name__}"
    return Observed


def _server_class() -> type[uvicorn.Server]:
    import uvicorn

    class EmbeddedServer(uvicorn.Server):
        """``uvicorn.Server``, embedded: no signal handling, woken at once by ``wake``.

        Both overrides replace public methods of ``uvicorn.Server``: ``capture_signals``
        (uvicorn installs SIGINT/SIGTERM handlers when serving from the main thread, which
        would take Ctrl+C away from the program embedding us) and ``main_loop`` (uvicorn's
        polls ``should_exit`` every 0.1 s; this one also wakes when ``wake`` is set).
        """

        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            self.ready = threading.Event()
            self.loop: asyncio.AbstractEventLoop | None = None
            self._wake = asyncio.Event()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            self.loop = asyncio.get_running_loop()
            await super().startup(sockets=sockets)
            if self.started:
                self.ready.set()

        async def main_loop(self) -> None:
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864000  # a multiple of 10: on_tick refreshes Date
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

        def wake(self) -> None:
            """Ask the serving loop to exit now (from any thread)."""
            self.should_exit = True
            loop = self.loop
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
                if loop is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(self._wake.set)

    return EmbeddedServer


class BackgroundServer:
    """uvicorn serving ``app`` on ``host:port``, from a thread or in the running loop.

    >>> server = BackgroundServer(app, port=0, what="webhooks").start()
    >>> server.url  # 'http://127.0.0.1:40123'
    >>> server.stop()

    ``lifespan`` as uvicorn's (``"auto"``, ``"on"``, ``"off"``); ``observer`` is told about
    every connection; ``connections`` counts them. Requires uvicorn (imported on ``start``).
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        what: str = "the server",
        lifespan: Literal["auto", "on", "off"] = "auto",
        log_level: str = "warning",
        graceful_seconds: float = 5.0,
        start_timeout: float = 10.0,
        observer: ConnectionObserver | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.what = what
        self.start_timeout = start_timeout
        self.connections = ConnectionStats()
        self._requested_port = port
        self._lifespan = lifespan
        self._log_level = log_level
        self._graceful_seconds = graceful_seconds
        self._observer = observer
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    # -- where ------------------------------------------------------------------------------

    def bind(self) -> BackgroundServer:
        """Bind the listening socket now (``start`` does it when not done yet)."""
        if self._socket is None:
            self._socket = bind(self.host, self._requested_port, what=self.what)
        return self

    @property
    def port(self) -> int:
        """The port being served (known once bound)."""
        if self._socket is None:
            raise RuntimeError(f"{self.what} is not started: use it as a context manager.")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is serving (or starting)."""
        if self._thread is not None:
            return self._thread.is_alive()
        return self._task is not None and not self._task.done()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop serving the app, once started."""
        return None if self._server is None else self._server.loop

    def _prepare(self) -> Any:
        import uvicorn

        if self._server is not None:
            raise RuntimeError(f"{self.what} is already running.")
        config = uvicorn.Config(
            self.app,
            lifespan=self._lifespan,
            log_config=None,  # leave the host program's (and pytest's) logging alone
            log_level=self._log_level,
            access_log=False,
            proxy_headers=False,  # scope["client"] stays the socket's peer
            timeout_graceful_shutdown=max(1, round(self._graceful_seconds)),  # uvicorn: int
        )
        config.load()
        config.http_protocol_class = _observing(
            config.http_protocol_class, self.connections, self._observer
        )
        self.bind()
        self._failure = None
        self._server = _server_class()(config)
        return self._server

    def _started(self, alive: bool) -> bool:
        if self._server.ready.is_set():
            return True
        if not alive:
            task = self._task
            if task is not None and not task.cancelled() and self._failure is None:
                self._failure = task.exception()
            raise RuntimeError(
                f"{self.what} could not start on {self.url}"
                + (f": {self._failure!r}" if self._failure is not None else "")
            ) from self._failure
        return False

    # -- from a thread ----------------------------------------------------------------------

    def start(self) -> BackgroundServer:
        """Serve from a background thread; returns once connections are being accepted."""
        server = self._prepare()
        sockets = [self._socket]

        def run() -> None:
            try:
                server.run(sockets=sockets)
            except BaseException as exc:  # reported by start(); SystemExit on a failed startup
                self._failure = exc

        self._thread = threading.Thread(target=run, name=f"{self.what}:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        try:
            while not self._started(self._thread.is_alive()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.what} did not start on {self.url} in time")
                server.ready.wait(0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving (open requests get ``graceful_seconds`` to finish) and join the thread."""
        if self._server is not None:
            self._server.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # -- in the running event loop ----------------------------------------------------------

    async def astart(self) -> BackgroundServer:
        """Serve as a task of the running event loop; returns once accepting connections."""
        server = self._prepare()
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[self._socket]))
        self._task = task
        deadline = time.monotonic() + self.start_timeout
        try:
            while not self._started(not task.done()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.what} did not start on {self.url} in time")
                await asyncio.sleep(0.005)
        except BaseException:
            await self.astop()
            raise
        return self

    async def astop(self) -> None:
        """Stop serving and wait for the serving task to end."""
        if self._server is not None:
            self._server.wake()
        task, self._task = self._task, None
        if task is not None:
            try:
                await task
            except (Exception, asyncio.CancelledError, SystemExit) as exc:
                self._failure = exc  # a failed startup: astart reports it
        self._close()


class Serving(Protocol):
    """Anything that says whether it is still serving."""

    @property
    def running(self) -> bool:
        """Whether it still serves."""


def wait_until_interrupted(server: Serving) -> bool:
    """Block until Ctrl+C or SIGTERM (True), or until the server thread ends by itself (False).

    For commands that serve until stopped. SIGTERM (``kill``, ``docker stop``) is handled
    like Ctrl+C while this runs (from the main thread), and the previous handler restored.
    The caller stops the server.
    """
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        return True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
