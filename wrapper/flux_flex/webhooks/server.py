"""Serving a ``WebhookReceiver`` with uvicorn: in the background (``ReceiverServer``) or
blocking (``listen``, behind ``flux-flex webhook-listen``).

Needs only the core and uvicorn (the ``webhooks`` extra): no Starlette, Pillow or
jsonschema on this path. uvicorn is imported only when a server starts. The socket, thread
and shutdown handling is ``flux_flex._serving``'s, shared with the offline fake.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flux_flex._closing import AsyncClosing, Closing
from flux_flex._serving import BackgroundServer, ConnectionStats, wait_until_interrupted
from flux_flex.errors import JournalError
from flux_flex.webhooks.event import WebhookEvent
from flux_flex.webhooks.journaled import JournalLike
from flux_flex.webhooks.receiver import DEFAULT_MAX_BODY_BYTES, WebhookReceiver

__all__ = ["ReceiverServer", "listen"]

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_WHAT = "webhooks"


def _require_uvicorn() -> None:
    try:
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "Serving a webhook receiver needs uvicorn: pip install 'flux-flex[webhooks]' "
            "(also part of 'flux-flex[fake]'), or mount WebhookReceiver in your own ASGI "
            "server."
        ) from exc


class ReceiverServer(Closing, AsyncClosing):
    """Serves a ``WebhookReceiver`` on ``host:port`` with uvicorn while the block runs.

    ``with ReceiverServer(receiver) as server:`` serves from a background thread;
    ``async with`` serves as a task in the running event loop. ``port=0`` (the default)
    picks a free port; ``server.url`` is the address to pass as ``webhook_url``. ``app``
    serves another ASGI app instead of the bare receiver (e.g. a Starlette app mounting it,
    or middleware around it). The host program's signal handlers are left alone.
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
        self.app: Any = receiver if app is None else app
        self.host = host
        self.start_timeout = start_timeout
        self._requested_port = port
        self._log_level = log_level
        self._server: BackgroundServer | None = None

    @property
    def port(self) -> int:
        """The port being served (known once started)."""
        if self._server is None:
            raise RuntimeError("The server is not started: use it as a context manager.")
        return self._server.port

    @property
    def url(self) -> str:
        """``http://host:port/``: where the receiver answers."""
        if self._server is None:
            raise RuntimeError("The server is not started: use it as a context manager.")
        return self._server.url + "/"

    @property
    def connections(self) -> ConnectionStats:
        """TCP connections accepted so far (``accepted``; ``nodelay``: with TCP_NODELAY)."""
        if self._server is None:
            raise RuntimeError("The server is not started: use it as a context manager.")
        return self._server.connections

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None and self._server.running

    def _prepare(self) -> BackgroundServer:
        if self._server is not None:
            raise RuntimeError("This ReceiverServer is already running.")
        _require_uvicorn()
        self._server = BackgroundServer(
            self.app,
            host=self.host,
            port=self._requested_port,
            what=_WHAT,
            lifespan="auto",  # the receiver speaks lifespan; an app= given instead may not
            log_level=self._log_level,
            # lifespan shutdown drains running callbacks, up to the receiver's drain_timeout
            graceful_seconds=5.0,
            start_timeout=self.start_timeout,
        )
        return self._server

    # -- in a background thread ---------------------------------------------------------

    def start(self) -> ReceiverServer:
        """Start serving from a background thread; returns once the server accepts requests.

        A port that cannot be bound raises ``OSError`` here.
        """
        server = self._prepare()
        try:
            server.start()
        except BaseException:
            self._server = None
            raise
        return self

    def stop(self) -> None:
        """Stop serving (lets running callbacks finish, up to the receiver's drain_timeout)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout=self.receiver.drain_timeout + 10)

    def _enter(self) -> None:
        self.start()

    def close(self) -> None:
        """Stop serving: `stop`, as ``with`` does on the way out."""
        self.stop()

    # -- in the running event loop ------------------------------------------------------

    async def _aenter(self) -> None:
        server = self._prepare()
        try:
            await server.astart()
        except BaseException:
            self._server = None
            raise

    async def aclose(self) -> None:
        """Stop serving, from the running event loop (``async with`` does on the way out)."""
        server, self._server = self._server, None
        if server is not None:
            await server.astop()


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
    save_dir: str | os.PathLike[str] | None, echo: Callable[[str], Any], *, quiet: bool = False
) -> Callable[[WebhookEvent], None]:
    """``listen``'s ``on_event``: echo each event as a JSON line, or save it and echo where."""
    directory = None if save_dir is None else Path(save_dir)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()  # callbacks run in worker threads: keep echoed lines whole

    def on_event(event: WebhookEvent) -> None:
        if directory is None and quiet:  # the image's own line says it is saved
            if not event.is_ready:
                with lock:
                    echo(f"{event.id} {event.status}")
            return
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
    journal: JournalLike | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Serve a ``WebhookReceiver`` on ``host:port``; returns once interrupted (Ctrl+C, SIGTERM).

    ``port=0`` picks a free port (the banner echoed first says which). A port that cannot
    be bound raises ``OSError`` before anything is served. Each verified, new delivery is
    echoed as one JSON line, or, with ``save_dir``, saved as
    ``<save_dir>/<task id>.json`` (and its path echoed). Forged deliveries get 401 and are
    logged. Point a tunnel at it during development and submit with its public URL as
    ``webhook_url`` and the same secret as ``webhook_secret``.

    With ``journal`` every final delivery is recorded there first (handled once across all
    the receivers sharing it; 503 while it cannot be reached), and with ``out_dir`` each
    Ready task's image is saved there once across them (see `WebhookReceiver`); a line
    ``<task id> saved -> <path>`` is echoed for each image this receiver saved. A journal
    that cannot be reached at the start is reported and tried again at each delivery.
    """
    quiet = journal is not None and out_dir is not None
    receiver = WebhookReceiver(
        secrets,
        on_event=make_listener_callback(save_dir, echo, quiet=quiet),
        max_body_bytes=max_body_bytes,
        journal=journal,
        out_dir=out_dir,
    )
    if receiver.recorder is not None:
        receiver.recorder.on_saved = lambda task_id, path: echo(f"{task_id} saved -> {path}")
        try:
            receiver.recorder.open()
        except JournalError as exc:
            echo(
                f"warning: the task journal cannot be reached yet ({exc}); deliveries are "
                "answered 503 (the API retries them) until it can."
            )
    try:
        with ReceiverServer(receiver, host, port, log_level=log_level) as server:
            where = "" if receiver.recorder is None else f", journal {receiver.recorder.where}"
            echo(f"Listening for webhook deliveries on {server.url}{where} (Ctrl+C to stop)")
            wait_until_interrupted(server)
    finally:
        if receiver.recorder is not None:
            receiver.recorder.close()
