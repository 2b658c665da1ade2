"""`HostileServer`: a threaded HTTP server from the standard library, scripted per route.

Each request is read and recorded (method, path, query, headers, body, time), then handed
to the handler routed for it as an `Exchange`: the handler may answer properly, or write
raw bytes, drip them, stall, reset the connection... (see `tests.hostile.handlers`).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

__all__ = ["Exchange", "Handler", "HostileServer", "Recorded", "raw_response"]

Handler = Callable[["Exchange"], None]


@attrs.frozen
class Recorded:
    """One request as the server received it. ``headers`` has lower-cased names."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    at: float  # time.monotonic() when the request was read

    @property
    def carried_key(self) -> bool:
        """Whether the request carried an ``x-key`` header."""
        return "x-key" in self.headers

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def raw_response(
    status: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    content_type: str | None = "application/octet-stream",
    close: bool = False,
) -> bytes:
    """A complete HTTP/1.1 response as bytes (status line, headers, ``Content-Length``, body)."""
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
    lines = [f"HTTP/1.1 {status} {reason}"]
    names = {name.lower() for name in headers or {}}
    if content_type is not None and "content-type" not in names:
        lines.append(f"Content-Type: {content_type}")
    if "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Exchange:
    """One request being answered: what came in, and ways to answer (or not)."""

    def __init__(self, server: HostileServer, handler: _RequestHandler, recorded: Recorded):
        self.server = server
        self.request = recorded
        self._handler = handler
        self.keep_alive = False  # set by `respond`: the connection may serve another request

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query

    @property
    def socket(self) -> socket.socket:
        """The connection's socket (for tricks the helpers do not cover)."""
        sock = self._handler.connection
        assert isinstance(sock, socket.socket)
        return sock

    def write(self, data: bytes) -> bool:
        """Send raw bytes; False when the client has gone away."""
        try:
            self._handler.wfile.write(data)
        except (OSError, ValueError):
            return False
        self.server._add_sent(self.path, len(data))
        return True

    def respond(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str | None = "application/octet-stream",
    ) -> None:
        """A well-formed answer; the connection stays open for the next request."""
        self.keep_alive = True
        self.write(raw_response(status, body, headers, content_type=content_type))

    def respond_json(
        self, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        """``data`` as JSON (NaN and Infinity written as JavaScript literals, as Python does)."""
        self.respond(status, json.dumps(data).encode(), headers, content_type="application/json")

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False (at once) when the server is shutting down."""
        return not self.server.closing.wait(seconds)

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), not a clean FIN."""
        sock = self.socket
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self._handler.rfile, self._handler.wfile):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        with contextlib.suppress(OSError):
            sock.close()


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ThreadingServer

    def handle_one_request(self) -> None:
        # Our own loop step instead of do_GET & co.: any method, and a handler may close or
        # reset the socket without the base class tripping over it afterwards.
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or not self.parse_request():
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        except (OSError, ValueError):
            self.close_connection = True
            return
        owner = self.server.owner
        parts = urlsplit(self.path)
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        owner._record(recorded)
        exchange = Exchange(owner, self, recorded)
        try:
            owner._handler_for(recorded.method, recorded.path)(exchange)
        except (OSError, ValueError):
            exchange.keep_alive = False
        if not exchange.keep_alive or self.headers.get("Connection", "").lower() == "close":
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the records instead


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: HostileServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on a hostile answer is the point, not an error

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._track(request)
        super().process_request(request, client_address)


class HostileServer:
    """A scriptable HTTP server on 127.0.0.1 (a free port), for tests.

        with HostileServer() as server:
            server.route("GET", "/v1/get_result", handlers.drip_headers(..., rate=1))
            ... server.url, server.count("GET", "/v1/get_result"), server.requests

    Routes are ``(method, path)``; a path ending in ``*`` matches by prefix; a later route
    replaces an earlier one. Unrouted requests get a JSON 404. `api` installs a small
    well-behaved FLUX.2 [FLEX] API to start from (see `tests.hostile.api`).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = _ThreadingServer((host, 0), _RequestHandler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], Handler] = {}
        self._requests: list[Recorded] = []
        self._sockets: list[socket.socket] = []
        self._sent: dict[str, int] = {}
        self._created: list[str] = []
        self.closing = threading.Event()
        """Set when the server shuts down: stalls and drips stop at once."""
        self.state: dict[str, Any] = {}
        """Free room for handlers that keep state between requests."""

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; every open connection is cut (so no handler outlives the test)."""
        self.closing.set()
        self._server.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- where it is ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{self._server.server_address[0]}:{self.port}"

    # -- scripting --------------------------------------------------------------------------
    def route(self, method: str, path: str, handler: Handler) -> HostileServer:
        """Answer ``method path`` with ``handler`` (``path`` ending in ``*``: a prefix)."""
        with self._lock:
            self._routes[(method.upper(), path)] = handler
        return self

    def api(self, **options: Any) -> Any:
        """Install a well-behaved API on this server; see `tests.hostile.api.install_api`."""
        from tests.hostile.api import install_api

        return install_api(self, **options)

    # -- what happened ----------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        """The requests for ``method path`` (``path`` ending in ``*``: a prefix)."""
        return [r for r in self.requests if r.method == method.upper() and _matches(path, r.path)]

    def count(self, method: str, path: str) -> int:
        """How many ``method path`` requests arrived."""
        return len(self.requests_to(method, path))

    @property
    def created_tasks(self) -> list[str]:
        """Task ids created by submissions (handlers call `create_task`), in order."""
        with self._lock:
            return list(self._created)

    def create_task(self, task_id: str) -> None:
        """Record that a (billed) task was created."""
        with self._lock:
            self._created.append(task_id)

    def bytes_sent(self, path: str) -> int:
        """How many bytes the server wrote in answers to ``path`` (all methods)."""
        with self._lock:
            return self._sent.get(path, 0)

    # -- internals --------------------------------------------------------------------------
    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self._requests.append(recorded)

    def _add_sent(self, path: str, count: int) -> None:
        with self._lock:
            self._sent[path] = self._sent.get(path, 0) + count

    def _track(self, sock: socket.socket) -> None:
        # Writes to a client that stopped reading must not hang a handler thread forever.
        sock.settimeout(30)
        with self._lock:
            self._sockets = [s for s in self._sockets if s.fileno() != -1]
            self._sockets.append(sock)

    def _handler_for(self, method: str, path: str) -> Handler:
        with self._lock:
            handler = self._routes.get((method, path))
            if handler is None:
                prefixes = [
                    (len(p), h)
                    for (m, p), h in self._routes.items()
                    if m == method and p.endswith("*") and _matches(p, path)
                ]
                handler = max(prefixes, key=lambda item: item[0])[1] if prefixes else None
        return handler or _not_found

    def __repr__(self) -> str:
        return f"HostileServer({self.url})"


def _matches(pattern: str, path: str) -> bool:
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern


def _not_found(exchange: Exchange) -> None:
    exchange.respond_json({"detail": "Not Found"}, status=404)
