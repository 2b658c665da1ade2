"""What the core asks a driver to do, and what the driver sends back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from flux_flex._core.retry import FailureKind

__all__ = [
    "AwaitDelivery",
    "HttpFailure",
    "HttpRequest",
    "HttpResponse",
    "Local",
    "RefusedBody",
    "Report",
    "Retrying",
    "Send",
    "Sleep",
]


@attrs.frozen
class HttpRequest:
    """A request to make. ``authenticated``: add the ``x-key`` header (API hosts only).

    ``timeout`` bounds the whole exchange, connect to last byte (seconds from the send; None:
    the client's timeout, which the driver applies as well). ``download``: the answer is an
    image download: its 200 body must be a PNG, JPEG or WebP of at most ``max_bytes``, and
    only its headers are held to the client's timeout (the body to ``timeout``, the
    download's whole-transfer bound). ``download_dir``: stream that body into a hidden
    temporary file in that directory instead of memory.
    """

    method: str
    url: str
    idempotent: bool
    params: Mapping[str, str] | None = None
    json: Any = None
    authenticated: bool = True
    download_dir: str | None = None
    timeout: float | None = None
    download: bool = False
    max_bytes: int | None = None


@attrs.frozen
class HttpResponse:
    """An HTTP answer. For streamed downloads ``temp_path`` holds the body, ``head`` its start."""

    status: int
    headers: Mapping[str, str]
    content: bytes = b""
    temp_path: str | None = None
    head: bytes = b""


@attrs.frozen
class HttpFailure:
    """The request got no HTTP answer."""

    kind: FailureKind
    detail: str


@attrs.frozen
class RefusedBody:
    """An answer whose body was refused while it streamed in; nothing of it was kept.

    ``reason``: ``"not_image"`` (a download whose first bytes are no PNG, JPEG or WebP),
    ``"too_large"`` (more than ``limit`` bytes, once inflated) or ``"encoding"`` (a
    ``Content-Encoding`` flux-flex does not undo, named in ``headers``). ``size``: the
    bytes received, or with ``announced`` the ``Content-Length`` that was refused before
    reading any.
    """

    status: int
    headers: Mapping[str, str]
    reason: str
    size: int
    limit: int | None = None
    announced: bool = False


@attrs.frozen
class Send:
    """Make ``request``; answer with an `HttpResponse` or an `HttpFailure`."""

    request: HttpRequest


@attrs.frozen
class Sleep:
    """Sleep ``seconds``; answer with None."""

    seconds: float


@attrs.frozen
class AwaitDelivery:
    """Wait up to ``timeout`` s for the webhook payload of ``task_id``; answer with it or None."""

    task_id: str
    timeout: float


@attrs.frozen
class Report:
    """Tell the caller about a poll (``on_progress``); answer with None."""

    task_id: str
    status: str
    progress: float | None
    result: Any
    raw: Mapping[str, Any]


@attrs.frozen
class Retrying:
    """Tell the caller that a failed request will be sent again (the `Sleep` of its backoff
    comes next); answer with None. ``message`` is the line to show."""

    what: str
    reason: str
    delay: float
    attempt: int
    limit: int

    @property
    def message(self) -> str:
        """``"submitting: connection refused; retrying in 1.2 s (1/2)"``."""
        return (
            f"{self.what}: {self.reason}; retrying in {self.delay:.1f} s "
            f"({self.attempt}/{self.limit})"
        )


@attrs.frozen
class Local:
    """Call ``function`` (blocking local work: the task journal, the disk); answer with what
    it returns. The sync driver calls it; the async driver runs it in a worker thread, so
    the event loop never blocks. Flows build it with `flux_flex._core.journaled.local`,
    which hands the function's exception back to the flow instead of to the driver."""

    function: Callable[[], Any] = attrs.field(repr=False)


Action = Send | Sleep | AwaitDelivery | Report | Retrying | Local
Answer = HttpResponse | HttpFailure | RefusedBody | Mapping[str, Any] | None
