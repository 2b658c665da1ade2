"""Handlers for `HostileServer.route`: each factory returns ``handler(exchange)``.

Honest answers (`respond`, `json_body`, `raw_json`, `html`), slow ones (`drip`,
`drip_headers`, `drip_body`, `stall`), broken ones (`reset`, `reset_after`, `redirect_loop`,
`huge`, `gzip_bomb`), and combinators (`sequence`, `counting`).
"""

from __future__ import annotations

import itertools
import json
import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from tests.hostile.server import Exchange, Handler, raw_response

__all__ = [
    "drip",
    "drip_body",
    "drip_headers",
    "gzip_bomb",
    "html",
    "huge",
    "json_body",
    "raw_json",
    "redirect_loop",
    "redirect_to",
    "reset",
    "reset_after",
    "respond",
    "sequence",
    "stall",
    "too_many_requests",
]

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Error</title></head>"
    b"<body><h1>Something went wrong</h1><p>Please try again later.</p></body></html>"
)


def respond(
    status: int = 200,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    content_type: str | None = "application/octet-stream",
) -> Handler:
    """A well-formed answer."""

    def handler(exchange: Exchange) -> None:
        exchange.respond(status, body, headers, content_type=content_type)

    return handler


def json_body(
    data: Any | Callable[[Exchange], Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Handler:
    """``data`` as JSON (or ``data(exchange)`` when callable). NaN/Infinity as JS literals."""

    def handler(exchange: Exchange) -> None:
        value = data(exchange) if callable(data) else data
        exchange.respond_json(value, status, headers)

    return handler


def raw_json(text: str | Callable[[Exchange], str], status: int = 200) -> Handler:
    """A body written exactly as given with ``Content-Type: application/json`` (for lies no
    encoder writes, such as ``1e309``)."""

    def handler(exchange: Exchange) -> None:
        body = text(exchange) if callable(text) else text
        exchange.respond(status, body.encode(), content_type="application/json")

    return handler


def html(status: int = 200, page: bytes = HTML_ERROR_PAGE) -> Handler:
    """An HTML page (by default an error page), with whatever status."""
    return respond(status, page, content_type="text/html; charset=utf-8")


def too_many_requests(retry_after: str | None = "86400") -> Handler:
    """A 429 (with ``Retry-After`` unless None), every time it is asked."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return json_body({"detail": "Too many active tasks"}, 429, headers)


def drip(data: bytes, *, rate: float, start: int = 0) -> Handler:
    """Write ``data`` (a whole raw response) at ``rate`` bytes per second, after sending its
    first ``start`` bytes at once. Stops when the client hangs up or the server closes."""
    interval = 1.0 / rate

    def handler(exchange: Exchange) -> None:
        if start and not exchange.write(data[:start]):
            return
        for index in range(start, len(data)):
            if not exchange.sleep(interval) or not exchange.write(data[index : index + 1]):
                return

    return handler


def drip_headers(
    status: int = 200,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    rate: float = 1.0,
    content_type: str | None = "application/json",
) -> Handler:
    """The whole answer, status line and headers included, at ``rate`` bytes per second."""
    return drip(raw_response(status, body, headers, content_type=content_type), rate=rate)


def drip_body(
    status: int = 200,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    rate: float = 1.0,
    content_type: str | None = "application/json",
) -> Handler:
    """Headers at once, then the body at ``rate`` bytes per second."""
    whole = raw_response(status, body, headers, content_type=content_type)
    return drip(whole, rate=rate, start=len(whole) - len(body))


def stall(seconds: float = 60.0, *, then: Handler | None = None) -> Handler:
    """Read the request, send nothing for ``seconds`` (then ``then``, or hang up)."""

    def handler(exchange: Exchange) -> None:
        if exchange.sleep(seconds) and then is not None:
            then(exchange)

    return handler


def reset() -> Handler:
    """Read the request, then abort the connection with a TCP RST: no answer at all."""

    def handler(exchange: Exchange) -> None:
        exchange.reset()

    return handler


def reset_after(data: bytes, count: int) -> Handler:
    """Send the first ``count`` bytes of ``data`` (a raw response), then a TCP RST."""

    def handler(exchange: Exchange) -> None:
        exchange.write(data[:count])
        exchange.sleep(0.05)  # let the bytes leave before the reset discards the send queue
        exchange.reset()

    return handler


def redirect_to(location: str, status: int = 302) -> Handler:
    """A redirect to ``location``."""
    return respond(status, b"", {"Location": location}, content_type=None)


def redirect_loop(status: int = 302) -> Handler:
    """A redirect to the very URL that was asked for: an endless loop."""

    def handler(exchange: Exchange) -> None:
        query = "&".join(f"{k}={v}" for k, v in exchange.query.items())
        location = exchange.path + (f"?{query}" if query else "")
        exchange.respond(status, b"", {"Location": location}, content_type=None)

    return handler


def huge(
    size: int,
    *,
    head: bytes = b"",
    content_type: str = "image/png",
    declare_length: bool = True,
    chunk: int = 64 * 1024,
) -> Handler:
    """A 200 whose body is ``head`` then zeros, ``size`` bytes in all, made on the fly.

    ``declare_length``: send ``Content-Length`` (else the body is chunked, so only counting
    bytes can stop it). Writing stops when the client hangs up; `HostileServer.bytes_sent`
    tells how far it got.
    """

    def handler(exchange: Exchange) -> None:
        headers = {"Content-Type": content_type}
        if declare_length:
            headers["Content-Length"] = str(size)
        else:
            headers["Transfer-Encoding"] = "chunked"
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if not exchange.write(f"HTTP/1.1 200 OK\r\n{lines}\r\n".encode()):
            return
        zeros = bytes(chunk)
        first = (head + zeros)[:chunk]
        sent = 0
        while sent < size and not exchange.server.closing.is_set():
            piece = (first if sent == 0 else zeros)[: size - sent]
            framed = piece if declare_length else b"%x\r\n%s\r\n" % (len(piece), piece)
            if not exchange.write(framed):
                return
            sent += len(piece)
        if not declare_length:
            exchange.write(b"0\r\n\r\n")

    return handler


def gzip_bomb(
    inflated: int,
    *,
    head: bytes = b"",
    content_type: str = "image/png",
    encoding: str = "gzip",
) -> Handler:
    """A 200 whose body is gzip (or zlib ``deflate``) of ``head`` then zeros, ``inflated``
    bytes once inflated (rounded up to MiB), about 1,000 times fewer on the wire; chunked
    in pieces of about 64 KiB, each of which inflates to 64 MiB.

    Made on the fly without compressing it all: after a full flush, deflate's output for
    one more MiB of zeros is the same bytes every time, so one block is repeated.
    """
    mib = 1024 * 1024
    packer = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(bytes(mib)) + packer.flush(zlib.Z_FULL_FLUSH)
    # The end of the stream (its trailer's checksum is wrong: no client reads that far).
    tail = packer.flush()

    def handler(exchange: Exchange) -> None:
        head_lines = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
            f"Content-Encoding: {encoding}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        if not exchange.write(head_lines.encode()):
            return
        # HTTP chunks of about 64 KiB (64 MiB inflated): as a client reads the network.
        blocks = -(-inflated // mib)
        pieces = itertools.chain(
            [start],
            itertools.repeat(block * 64, blocks // 64),
            [block * (blocks % 64) + tail],
        )
        for piece in pieces:
            if exchange.server.closing.is_set() or not exchange.write(
                b"%x\r\n%s\r\n" % (len(piece), piece)
            ):
                return
        exchange.write(b"0\r\n\r\n")

    return handler


def sequence(*handlers: Handler) -> Handler:
    """The n-th request gets the n-th handler; the last one answers every request after."""
    lock = threading.Lock()
    counter = itertools.count()

    def handler(exchange: Exchange) -> None:
        with lock:
            index = next(counter)
        handlers[min(index, len(handlers) - 1)](exchange)

    return handler


def poll_answers(*answers: Mapping[str, Any] | str) -> Handler:
    """Poll answers in turn (the last repeats): a mapping is sent as JSON, a string as is
    (for literals like ``NaN`` or ``1e309`` inside)."""
    return sequence(
        *(
            raw_json(answer) if isinstance(answer, str) else raw_json(json.dumps(answer))
            for answer in answers
        )
    )


__all__ += ["HTML_ERROR_PAGE", "poll_answers"]
