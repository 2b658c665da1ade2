"""What the clients hand back: jobs (submitted tasks), results (ready images), snapshots.

A `Job` or `Result` is bound to the client that made it, typed by what it needs of that
client (`SyncClient`, `AsyncClient`), so this module imports no client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypedDict, Unpack

import attrs

from flux_flex._core.answer import compact_answer, expand_answer, shared_number
from flux_flex._core.status import is_final
from flux_flex.completion import CompletionSource

__all__ = [
    "AsyncClient",
    "AsyncJob",
    "AsyncResult",
    "Job",
    "JobInfo",
    "ProgressCallback",
    "Result",
    "ResultInfo",
    "SyncClient",
    "TaskSnapshot",
    "WaitOptions",
]

ProgressCallback = Callable[["TaskSnapshot"], object]
"""Called after every poll with what the API said (status, progress)."""


@attrs.frozen
class TaskSnapshot:
    """One poll of a task: ``status`` exactly as the API spelt it (a known `flux_flex.Status`
    or one added later: any ``str``), ``progress`` as a 0..1 fraction."""

    id: str
    status: str
    progress: float | None = None
    result: Any = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_final(self) -> bool:
        """True when the task has ended (`flux_flex.FINAL_STATUSES`: Ready, Error, a
        moderation, Task not found)."""
        return is_final(self.status)

    @property
    def is_pending(self) -> bool:
        """True while the task is still running: any status that is not final (``Pending``,
        ``Reasoning``, ``Generating``, or one the API added later)."""
        return not is_final(self.status)


@attrs.frozen
class JobInfo:
    """A submitted task as the API acknowledged it (no client attached)."""

    id: str
    polling_url: str
    cost: float | None = None
    input_mp: float | None = None
    output_mp: float | None = None
    webhook_url: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    submitted_at: float | None = attrs.field(default=None, repr=False, eq=False)
    """``time.monotonic()`` when the submission was acknowledged (None for resumed jobs)."""
    webhook_secret: str | None = attrs.field(default=None, repr=False, eq=False, kw_only=True)
    """The webhook secret the task was submitted with (never shown): masked in errors."""


@attrs.frozen
class ResultInfo:
    """A ready task: ``url`` is the signed sample URL (expires ~10 minutes after ready)."""

    id: str
    url: str
    seed: int | None = None
    prompt: str | None = None
    _raw: bytes | Mapping[str, Any] = attrs.field(factory=dict, repr=False, alias="raw")
    """The answer as `raw` reads it, stored compactly (`flux_flex._core.answer`)."""
    path: str | None = None
    """Where `generate(save_to=...)` wrote the image; None otherwise."""
    cost: float | None = None
    """The task's settled cost in credits, from the Ready answer (None when it has none,
    e.g. a webhook delivery). `JobInfo.cost` is what the submission announced."""

    def __attrs_post_init__(self) -> None:
        # Only what the fields above do not hold is kept of the answer: a list of 100,000
        # results would otherwise hold every answer twice.
        object.__setattr__(self, "cost", shared_number(self.cost))
        object.__setattr__(self, "_raw", compact_answer(self._raw, **self._fields()))

    def _fields(self) -> dict[str, Any]:
        return {
            "task_id": self.id, "sample": self.url, "prompt": self.prompt, "seed": self.seed,
            "cost": self.cost,
        }  # fmt: skip

    @property
    def raw(self) -> Mapping[str, Any]:
        """The Ready answer as received (a new dict at each read; the fields above are read
        from it)."""
        return expand_answer(self._raw, **self._fields())


class WaitOptions(TypedDict, total=False):
    """What ``wait`` takes besides the job and ``timeout`` (all optional):
    ``on_progress`` is told of every poll; with ``webhook`` (a `CompletionSource`) the wait
    completes as soon as the task's delivery arrives, polling only after ``webhook_grace``
    seconds as the fallback; with ``save_to`` the image is saved there too, within the
    same ``timeout``."""

    on_progress: ProgressCallback | None
    webhook: CompletionSource | None
    webhook_grace: float | None
    save_to: str | os.PathLike[str] | None


class SyncClient(Protocol):
    """What a `Job` and a `Result` need of the sync client that made them."""

    def wait(
        self, job: Job | str, *, timeout: float = ..., **options: Unpack[WaitOptions]
    ) -> Result:
        """Wait for ``job``; see `FluxFlex.wait`."""
        ...

    def download(self, result: Result, path: str | os.PathLike[str]) -> str:
        """Download ``result``'s image to ``path``."""
        ...

    def download_bytes(self, result: Result) -> bytes:
        """Download ``result``'s image into memory."""
        ...


class AsyncClient(Protocol):
    """What an `AsyncJob` and an `AsyncResult` need of the async client that made them."""

    async def wait(
        self, job: AsyncJob | str, *, timeout: float = ..., **options: Unpack[WaitOptions]
    ) -> AsyncResult:
        """Wait for ``job``; see `AsyncFluxFlex.wait`."""
        ...

    async def download(self, result: AsyncResult, path: str | os.PathLike[str]) -> str:
        """Download ``result``'s image to ``path``."""
        ...

    async def download_bytes(self, result: AsyncResult) -> bytes:
        """Download ``result``'s image into memory."""
        ...


@attrs.frozen
class Job(JobInfo):
    """A submitted task, bound to the sync client that can wait for it."""

    client: SyncClient = attrs.field(repr=False, eq=False, kw_only=True)

    def wait(self, timeout: float = 300.0, **options: Unpack[WaitOptions]) -> Result:
        """Block until the task is ready (and saved to ``save_to``); see `FluxFlex.wait`."""
        return self.client.wait(self, timeout=timeout, **options)


@attrs.frozen
class AsyncJob(JobInfo):
    """A submitted task, bound to the async client that can wait for it."""

    client: AsyncClient = attrs.field(repr=False, eq=False, kw_only=True)

    async def wait(self, timeout: float = 300.0, **options: Unpack[WaitOptions]) -> AsyncResult:
        """Wait until the task is ready (and saved to ``save_to``); see `AsyncFluxFlex.wait`."""
        return await self.client.wait(self, timeout=timeout, **options)


@attrs.frozen
class Result(ResultInfo):
    """A ready image, bound to the sync client that can download it."""

    client: SyncClient = attrs.field(repr=False, eq=False, kw_only=True)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Download the image to ``path``; returns the path written.

        Streams to a temporary file beside the target and renames it, so a failed
        download leaves nothing behind. The extension follows the image's real format
        (``fox.png`` becomes ``fox.jpg`` for a JPEG); a directory gets ``<task id>.<ext>``;
        an extension that is no image format the API makes (``.gif``) is refused with
        `RequestValidationError` before downloading. Raises `DownloadError` (the URL
        expires about 10 minutes after the task is ready).
        """
        return self.client.download(self, path)

    def read(self) -> bytes:
        """The image bytes, downloaded into memory."""
        return self.client.download_bytes(self)


@attrs.frozen
class AsyncResult(ResultInfo):
    """A ready image, bound to the async client that can download it."""

    client: AsyncClient = attrs.field(repr=False, eq=False, kw_only=True)

    async def save(self, path: str | os.PathLike[str]) -> str:
        """Download the image to ``path``; see `Result.save`."""
        return await self.client.download(self, path)

    async def read(self) -> bytes:
        """The image bytes, downloaded into memory."""
        return await self.client.download_bytes(self)
