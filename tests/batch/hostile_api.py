"""A small FLUX API written with the standard library, that can hold a client at an exact
point: the n-th POST before or after its task exists, the n-th poll, the n-th download
half sent. Not our fake: it shares no code with the client.

    api = HostileAPI(task_seconds=0.15)
    api.hold_at("post-created", 2)       # the 2nd POST creates its task, then hangs
    ... run a client; api.reached.wait(); kill it; api.release.set()
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import uuid
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

POINTS = ("post-received", "post-created", "poll", "download")
API_KEY = "hostile-key"


def png(width: int = 96, height: int = 96) -> bytes:
    """A real PNG of random pixels (incompressible: ~28 KB, streamed in several chunks)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + data))
        return struct.pack(">I", len(data)) + tag + data + crc

    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


class HostileAPI:
    """The API on a free port of 127.0.0.1; ``tasks`` (id -> prompt), ``downloads`` (id ->
    completed downloads), ``counts`` (point -> times reached)."""

    def __init__(self, *, task_seconds: float = 0.15) -> None:
        self.task_seconds = task_seconds
        self.lock = threading.Lock()
        self.tasks: dict[str, str] = {}
        self.ready_at: dict[str, float] = {}
        self.downloads: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.sample = png()
        self.hold: tuple[str, int] | None = None
        self.reached = threading.Event()
        self.release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def hold_at(self, point: str, n: int) -> None:
        """Hang the ``n``-th request reaching ``point`` until `release` is set."""
        assert point in POINTS
        with self.lock:
            self.counts.clear()
            self.hold = (point, n)
        self.reached.clear()
        self.release.clear()

    def clear_hold(self) -> None:
        with self.lock:
            self.hold = None
        self.release.set()

    def reach(self, point: str) -> bool:
        """Count ``point``; at the held one, signal and hang. True if this one was held."""
        with self.lock:
            self.counts[point] += 1
            held = self.hold == (point, self.counts[point])
        if held:
            self.reached.set()
            self.release.wait(30)
        return held

    def prompts_created(self) -> Counter[str]:
        with self.lock:
            return Counter(self.tasks.values())

    def __enter__(self) -> HostileAPI:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def _handler(api: HostileAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _hang_up(self) -> None:
            self.close_connection = True  # no answer at all

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            if self.headers.get("x-key") != API_KEY:
                self._json(401, {"detail": "bad key"})
                return
            if api.reach("post-received"):
                return self._hang_up()  # killed before the task existed
            task_id = uuid.uuid4().hex
            with api.lock:
                api.tasks[task_id] = str(body.get("prompt"))
                api.ready_at[task_id] = time.monotonic() + api.task_seconds
            if api.reach("post-created"):
                return self._hang_up()  # the task exists (billed); its answer never comes
            polling_url = f"{api.base_url}/v1/get_result?id={task_id}"
            self._json(200, {"id": task_id, "polling_url": polling_url, "cost": 5.0})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/v1/get_result":
                self._poll(parse_qs(url.query).get("id", [""])[0])
            elif url.path.startswith("/sample/"):
                self._download(url.path.removeprefix("/sample/").removesuffix(".png"))
            else:
                self._json(404, {"detail": "Not Found"})

        def _poll(self, task_id: str) -> None:
            if api.reach("poll"):
                return self._hang_up()
            with api.lock:
                prompt, ready_at = api.tasks.get(task_id), api.ready_at.get(task_id)
            if prompt is None or ready_at is None:
                self._json(200, {"id": task_id, "status": "Task not found"})
            elif time.monotonic() < ready_at:
                self._json(200, {"id": task_id, "status": "Pending", "progress": 0.5})
            else:
                sample = f"{api.base_url}/sample/{task_id}.png"
                result = {"sample": sample, "prompt": prompt, "seed": 7}
                # The settled cost (the 2026-09 document) differs from the submission's 5.0.
                ready = {"id": task_id, "status": "Ready", "result": result, "cost": 4.5}
                self._json(200, ready)

        def _download(self, task_id: str) -> None:
            body = api.sample
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            if api.reach("download"):
                return self._hang_up()  # killed with half the image on disk
            self.wfile.write(body[half:])
            with api.lock:
                api.downloads[task_id] += 1

    return Handler
