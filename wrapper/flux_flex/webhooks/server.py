"""Serving a ``WebhookReceiver`` with uvicorn: in the background (``ReceiverServer``) or
blocking (``listen``, behind ``flux-flex webhook-listen``).

uvicorn is in the ``fake`` extra, not the core: it is imported only when a server starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from flux_flex.webhooks.event import WebhookEvent
from flux_flex.webhooks.receiver import DEFAULT_MAX_BODY_BYTES, WebhookReceiver

__all__ = ["ReceiverServer", "listen"]

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _uvicorn() -> ModuleType:
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "Serving a webhook receiver needs uvicorn, which is in the 'fake' extra: "
            "pip install 'flux-flex[fake]' (or mount WebhookReceiver in your own ASGI server)."
        ) from exc
    return uvicorn


def _config(app: Any, log_level: str, **options: Any) -> Any:
    uvicorn = _uvicorn()
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="auto",  # the receiver speaks lifespan; an app= given instead may not
        timeout_graceful_shutdown=5,
        **options,
    )


def _embedded_server(config: Any) -> Any:
    """A uvicorn server that leaves the host program's signal handlers alone.

    (uvicorn takes over SIGINT/SIGTERM while it serves from the main thread, which is right
    for ``listen`` but not for a receiver embedded in someone else's program or event loop.)
    """
    uvicorn = _uvicorn()

    class EmbeddedServer(uvicorn.Server):  # type: ignore[misc, name-defined]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return EmbeddedServer(config)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port), so the real port is known at once
    and a taken port fails here with a clear ``OSError`` instead of inside uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno,
            f"Cannot listen for webhooks on {host}:{port}: {exc.strerror or exc}. "
            "Pick another port (or host), or stop what is using it.",
        ) from exc
    except BaseException:
        sock.close()
        raise
    return sock


class ReceiverServer:
    """Serves a ``WebhookReceiver`` on ``host:port`` with uvicorn while the block runs.

    ``with ReceiverServer(receiver) as server:`` serves from a background thread;
    ``async with`` serves as a task in the running event loop. ``port=0`` (the default)
    picks a free port; ``server.url`` is the address to pass as ``webhook_url``. ``app``
    serves another ASGI app instead of the bare receiver (e.g. a Starlette app mounting it,
    or middleware around it).
    """

    def __init__(
        self,
        receiver: WebhookReceiver,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        start_timeout: float = 10.0,
        app: Any = None,
    ) -> None:
        self.receiver = receiver
        self.app = receiver if app is None else app
        self.host = host
        self.start_timeout = start_timeout
        self._requested_port = port
        self._log_level = log_level
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread_error: BaseException | None = None

    @property
    def port(self) -> int:
        """The port being served (known once started)."""
        if self._socket is None:
            raise RuntimeError("The server is not started: use it as a context manager.")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://host:port/``: where the receiver answers."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def _prepare(self) -> None:
        if self._socket is not None:
            raise RuntimeError("This ReceiverServer is already running.")
        config = _config(self.app, self._log_level)
        self._socket = _bind(self.host, self._requested_port)
        self._server = _embedded_server(config)

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # -- in a background thread ---------------------------------------------------------

    def start(self) -> ReceiverServer:
        """Start serving from a background thread; returns once the server accepts requests."""
        self._prepare()
        self._thread = threading.Thread(
            target=self._run_thread, name="flux-flex-webhooks", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"The webhook receiver did not start on {self.host}"
                    + (f": {self._thread_error!r}" if self._thread_error else " in time")
                )
            time.sleep(0.005)
        return self

    def _run_thread(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start()
            self._thread_error = exc

    def stop(self) -> None:
        """Stop serving (lets running callbacks finish, up to the receiver's drain_timeout)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.receiver.drain_timeout + 10)
            self._thread = None
        self._close_socket()

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- in the running event loop ------------------------------------------------------

    async def __aenter__(self) -> ReceiverServer:
        self._prepare()
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self._socket])
        )
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                await self._aclose()
                raise RuntimeError(f"The webhook receiver did not start on {self.host}")
            await asyncio.sleep(0.005)
        return self

    async def _aclose(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            # Already reported by __aenter__, or cancelled while shutting down.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
            self._task = None
        self._close_socket()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._aclose()


def _save_event(save_dir: Path, event: WebhookEvent) -> Path:
    """Write the event's JSON body to ``save_dir/<id>.json`` atomically; returns the path."""
    # The id comes from the (authenticated) sender, but is still never trusted as a path.
    name = event.id
    if not _SAFE_NAME.fullmatch(name):
        name = "task-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    target = save_dir / f"{name}.json"
    handle, temp = tempfile.mkstemp(dir=save_dir, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(event.to_dict(), out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def make_listener_callback(
    save_dir: str | os.PathLike[str] | None, echo: Callable[[str], Any]
) -> Callable[[WebhookEvent], None]:
    """``listen``'s ``on_event``: echo each event as a JSON line, or save it and echo where."""
    directory = None if save_dir is None else Path(save_dir)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()  # callbacks run in worker threads: keep echoed lines whole

    def on_event(event: WebhookEvent) -> None:
        if directory is None:
            line = json.dumps(event.to_dict(), sort_keys=True)
        else:
            line = f"{event.id} {event.status} -> {_save_event(directory, event)}"
        with lock:
            echo(line)

    return on_event


def listen(
    host: str,
    port: int,
    *,
    secrets: str | Sequence[str],
    save_dir: str | os.PathLike[str] | None = None,
    echo: Callable[[str], Any] = print,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    log_level: str = "warning",
) -> None:
    """Serve a ``WebhookReceiver`` on ``host:port``; returns once interrupted (Ctrl+C).

    ``port=0`` picks a free port (the banner echoed first says which). A port that cannot
    be bound raises ``OSError`` before anything is served. Each verified, new delivery is
    echoed as one JSON line, or, with ``save_dir``, saved as
    ``<save_dir>/<task id>.json`` (and its path echoed). Forged deliveries get 401 and are
    logged. Point a tunnel at it during development and submit with its public URL as
    ``webhook_url`` and the same secret as ``webhook_secret``.
    """
    receiver = WebhookReceiver(
        secrets, on_event=make_listener_callback(save_dir, echo), max_body_bytes=max_body_bytes
    )
    uvicorn = _uvicorn()
    server = uvicorn.Server(_config(receiver, log_level))
    sock = _bind(host, port)
    try:
        shown = f"[{host}]" if ":" in host else host
        echo(
            f"Listening for webhook deliveries on http://{shown}:{sock.getsockname()[1]}/ "
            "(Ctrl+C to stop)"
        )
        # uvicorn re-raises the signal that stopped it once it has shut down cleanly: being
        # interrupted is how listen() is meant to end, so that is a normal return here.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        sock.close()
