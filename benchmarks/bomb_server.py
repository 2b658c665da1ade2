"""A small FLUX.2 [FLEX] API whose images or poll answers can be gzip bombs, served by the
standard library in a child process (so the benchmark's client processes hold only clients).

A prompt containing ``bomb`` makes a task whose sample is a gzip bomb (an image that
inflates to `BOMB_BYTES`, about 1 MB on the wire); any other prompt, a normal noisy PNG of
about 0.8 MB. Polling a task id starting with ``poll-bomb`` answers a gzip-bombed JSON body.

    with BombServer() as server:
        FluxFlex(api_key="k", base_url=server.url).generate("a bomb", save_to="x.png")

``python -m benchmarks.bomb_server`` serves until its stdin closes, after printing its URL.
The bomb generator is a copy of ``tests/hostile/handlers.gzip_bomb`` (benchmarks do not
import tests).
"""

from __future__ import annotations

import http.server
import itertools
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from benchmarks.fakeproc import REPO_ROOT

__all__ = ["BOMB_BYTES", "BombServer", "bomb_pieces", "noisy_png"]

BOMB_BYTES = 1000**3
"""What a bomb inflates to: 1 GB."""
MIB = 1024 * 1024


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def noisy_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of random pixels: incompressible, about 3 bytes a pixel."""
    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows, 1))
        + _png_chunk(b"IEND", b"")
    )


def bomb_pieces(inflated: int, head: bytes = b"") -> Iterator[bytes]:
    """A gzip stream of ``head`` then zeros, ``inflated`` bytes once inflated (rounded up to
    MiB), in pieces of about 64 KiB (64 MiB inflated each): as a client reads the network.

    Made on the fly without compressing it all: after a full flush, deflate's output for one
    more MiB of zeros is the same bytes every time, so one block is repeated. (The trailer's
    checksum is wrong: no client reads that far.)
    """
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(bytes(MIB)) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.flush()
    blocks = -(-inflated // MIB)
    yield start
    yield from itertools.repeat(block * 64, blocks // 64)
    yield block * (blocks % 64) + tail


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a benchmark's server does not log each request."""

    def _json(self, value: Any, status: int = 200) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _bomb(self, content_type: str, head: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for piece in bomb_pieces(BOMB_BYTES, head):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client refused the body and hung up, as it should
            self.close_connection = True

    def do_POST(self) -> None:
        """Submissions: a task, a bomb when its prompt says so."""
        length = int(self.headers.get("Content-Length") or 0)
        prompt = str(json.loads(self.rfile.read(length) or b"{}").get("prompt", ""))
        kind = "bomb" if "bomb" in prompt else "normal"
        task_id = f"{kind}-{next(self.server.ids)}"
        polling_url = f"{self.server.url}/v1/get_result?id={task_id}"
        self._json({"id": task_id, "polling_url": polling_url, "cost": 5.0})

    def do_GET(self) -> None:
        """Polls (Ready at once), samples, credits."""
        parts = urlsplit(self.path)
        if parts.path == "/v1/credits":
            self._json({"credits": 1_000_000.0})
        elif parts.path == "/v1/get_result":
            task_id = dict(parse_qsl(parts.query)).get("id", "")
            if task_id.startswith("poll-bomb"):
                self._bomb("application/json", b"")
                return
            kind = task_id.split("-")[0]
            sample = f"{self.server.url}/samples/{kind}/{task_id}.png?signature=abc"
            result = {"sample": sample, "seed": 1}
            self._json({"id": task_id, "status": "Ready", "result": result, "cost": 5.0})
        elif parts.path.startswith("/samples/bomb/"):
            self._bomb("image/png", self.server.image[:64])
        elif parts.path.startswith("/samples/normal/"):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(self.server.image)))
            self.end_headers()
            self.wfile.write(self.server.image)
        else:
            self._json({"detail": "Not Found"}, 404)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.ids = itertools.count(1)
        self.image = noisy_png(512, 512)


class BombServer:
    """`python -m benchmarks.bomb_server` in a child process; ``url`` while entered."""

    def __init__(self) -> None:
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in __exit__)

    def __enter__(self) -> BombServer:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bomb_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url:
            self._proc.wait(timeout=10)
            self._stderr.seek(0)
            raise RuntimeError(f"the bomb server did not start: {self._stderr.read()[-2000:]}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the child's cue to stop
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()


def main() -> None:
    """Serve; print the URL; stop when stdin closes."""
    server = _Server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.url, flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
