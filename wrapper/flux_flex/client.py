"""`FluxFlex`: the synchronous client. Every call is built by `BaseClient`; here it runs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar, Unpack

import httpx

from flux_flex._base_client import BaseClient
from flux_flex._client_core import (
    Call,
)
from flux_flex._closing import Closing
from flux_flex._drivers import SyncDriver
from flux_flex.completion import CompletionSource
from flux_flex.models import Job, ProgressCallback, Result, TaskSnapshot, WaitOptions
from flux_flex.params import SubmitParams

if TYPE_CHECKING:  # loaded by the first batch: a client for single calls does without them
    from flux_flex._batch.engine import BatchOptions, Request
    from flux_flex._batch.threads import BatchRun
    from flux_flex.journal import Journal

__all__ = ["FluxFlex"]

T = TypeVar("T")


class FluxFlex(BaseClient[Job, Result, SyncDriver, httpx.Client], Closing):
    """Client for FLUX.2 [FLEX]: submit, wait, download.

    ``api_key`` defaults to ``$BFL_API_KEY``; ``base_url`` to ``$BFL_BASE_URL``, else the
    host of ``region`` (``"global"``, ``"eu"``, ``"us"``), else ``https://api.bfl.ai``.
    ``timeout`` bounds each single HTTP request, as httpx's does (seconds or an
    ``httpx.Timeout``); a method's own ``timeout`` bounds the whole call. ``max_retries`` /
    ``retry`` set the retry budget; ``poll_schedule`` spaces the polls; ``max_connections``
    sizes the connection pool. Pass ``http_client`` to use your own ``httpx.Client`` (it is
    not closed by us). ``with_options(...)`` gives a copy with other settings that shares
    the connections; ``credits()``, ``estimate_cost(...)`` and ``validate(...)`` help
    before paying.
    """

    _job_type = Job
    _result_type = Result

    def _new_http(self) -> httpx.Client:
        return httpx.Client(**self._http_options())

    def _new_driver(self) -> SyncDriver:
        return SyncDriver(self._http, self._core.settings.api_key, self._core.options.timeout)

    def _call(self, call: Call[T]) -> T:
        value = self._driver.run(call.flow, source=call.source, on_report=call.on_report)
        return call.finish(value)

    def submit(
        self,
        prompt: str,
        *,
        idempotency_key: str | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
        **params: Unpack[SubmitParams],
    ) -> Job:
        """Submit a task (billed) and return its `Job` at once.

        Parameters left out are not sent (the API applies its defaults); width/height 0
        also mean "model chooses". Input is checked against the spec first: bad input raises
        `RequestValidationError` before any request is sent.

        ``input_images`` (at most 8, sent as ``input_image`` … ``input_image_8``): paths are
        read and base64-encoded, bytes base64-encoded, http(s) URLs and base64 text sent as
        they are, data URIs sent as their base64 payload (the prefix is stripped).
        A submission is billed and never resent unless it provably did not leave (connect
        error) or was refused with 429; a 5xx or lost answer raises an error whose
        ``task_may_exist`` is True.

        ``idempotency_key`` (with a ``journal``, the client's or this call's) names the
        request across calls, processes and machines: a later call with the same key
        returns the job of the task the first one created, with no second POST (see
        `generate` for the rest). A call holding the key elsewhere that is still sending
        it is waited for as long as one request may take (`TaskInProgressError` after).
        """
        call = self._submit_call(
            prompt,
            params,
            idempotency_key=idempotency_key,
            journal=journal,
            resubmit_uncertain=resubmit_uncertain,
        )
        return self._call(call)

    def wait(
        self,
        job: Job | str,
        *,
        timeout: float = 300.0,
        **options: Unpack[WaitOptions],
    ) -> Result:
        """Wait for ``job`` to be ready and return its `Result` (saved to ``save_to`` when
        given, as `Result.save` does).

        Polls the job's ``polling_url`` on the client's schedule; with ``webhook`` (a
        `CompletionSource`), completes as soon as the delivery for this task arrives and
        polls only after ``webhook_grace`` seconds as the fallback. Raises
        `ModerationError`, `TaskFailedError`, `TaskNotFoundError` at once, and
        `WaitTimeoutError` (with the task id, to resume with `job`) when ``timeout`` seconds
        have passed: ``timeout`` bounds the whole call, the wait and the download included.
        """
        return self._call(self._wait_call(job, timeout=timeout, **options))

    def generate(
        self,
        prompt: str,
        *,
        save_to: str | os.PathLike[str] | None = None,
        timeout: float = 300.0,
        on_progress: ProgressCallback | None = None,
        webhook: CompletionSource | None = None,
        webhook_grace: float | None = None,
        idempotency_key: str | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
        **params: Unpack[SubmitParams],
    ) -> Result:
        """Submit, wait, and (with ``save_to``) download: the one-call way to an image.

        ``timeout`` bounds the whole call: the submission, the wait and the download. With
        ``save_to``, the returned result's ``path`` is the file written. Its extension
        chooses ``output_format`` when that is not given (``.png``, ``.jpg``/``.jpeg``,
        ``.webp``); an extension that contradicts ``output_format``, or another one
        (``.gif``), is refused with `RequestValidationError` before anything is sent. Without
        an extension, the image's real format's is added.

        ``idempotency_key`` (e.g. your order or job id) names the request in a task
        ``journal`` — the client's, or one given to this call — across calls, processes and
        machines, so that a re-run never pays twice. The first call with a key claims it,
        then submits; a later one resumes that task (no second POST), or returns the saved
        result (fetched again into ``save_to`` when the file is not on this machine). A call
        still holding the key elsewhere is waited for within ``timeout``, then
        `TaskInProgressError`. A submission whose answer was lost raises
        `TaskUncertainError` (sent again only with ``resubmit_uncertain=True``); the key with
        other parameters (the request body, not ``save_to`` or ``timeout``),
        `IdempotencyConflictError`, before anything is sent. With a journal and no key, the
        call is recorded under its task id.
        """
        call = self._generate_call(
            prompt,
            params,
            save_to=save_to,
            timeout=timeout,
            on_progress=on_progress,
            webhook=webhook,
            webhook_grace=webhook_grace,
            idempotency_key=idempotency_key,
            journal=journal,
            resubmit_uncertain=resubmit_uncertain,
        )
        return self._call(call)

    def get_result(self, task_id: str | Job, polling_url: str | None = None) -> TaskSnapshot:
        """One poll of a task, no waiting. Final statuses are returned, not raised."""
        return self._call(self._get_result_call(task_id, polling_url))

    def download(self, result: Result, path: str | os.PathLike[str]) -> str:
        """Download ``result``'s image to ``path`` (see `Result.save`)."""
        return self._call(self._download_call(result, path))

    def download_bytes(self, result: Result) -> bytes:
        """Download ``result``'s image into memory."""
        return self._call(self._download_bytes_call(result))

    def credits(self) -> float:
        """The account's balance in credits (``GET /v1/credits``; 1 credit is 0.01 USD)."""
        return self._call(self._credits_call())

    def generate_many(
        self,
        requests: Iterable[Request],
        *,
        concurrency: int = 24,
        timeout: float = 300.0,
        on_result: Callable[[int, Result | BaseException], object] | None = None,
        **options: Unpack[BatchOptions],
    ) -> list[Result | BaseException]:
        """Generate many images with at most ``concurrency`` tasks in flight.

        Each request is a prompt, a dict of `generate` keyword arguments (``save_to``
        included) or a `PreparedRequest`. Returns one outcome per request, in order: the
        `Result`, or the exception that request ended with. One failure never cancels the
        others; 429s are retried within the retry budget. ``timeout`` bounds each request
        whole: its submission, wait and save, counted from when it starts.
        ``on_result(index, outcome)`` is called in the calling thread as each request
        finishes; ``on_event`` receives a `BatchEvent` at every step, with live
        `BatchCounts` (in flight, done, failed, credits spent), and ``on_progress(index,
        snapshot)`` every poll — both from the worker threads, one call at a time.

        Every request is checked before any is sent: if one is invalid nothing is sent and
        `BatchValidationError` names each ``requests[i].field``. ``requests`` may be any
        iterable; it is read once, up front. ``stream=True`` reads it lazily instead (for an
        endless generator): each request is checked just before it is sent, and a bad one
        becomes its outcome. ``concurrency`` workers pull from it, so memory does not grow
        with the number of requests (beyond the outcomes returned).

        ``journal`` (a `Journal` or a file path) makes the batch safe to run again: a re-run
        skips what was saved, resumes tasks already created (never submitting them twice),
        and reports a submission whose answer was lost as `TaskUncertainError` instead of
        paying again — resubmitted only with ``resubmit_uncertain=True``. Requests that
        failed are retried only with ``retry_failed=True``. On Ctrl-C (or any stop), POSTs
        already sent are awaited and recorded before it propagates; created tasks stay
        resumable. A client given a ``journal`` lends it to its batches (``journal=None``:
        none).
        """
        from flux_flex._batch.threads import generate_many_sync

        return generate_many_sync(
            self._batch_parts(),
            requests,
            on_result=on_result,
            concurrency=concurrency,
            timeout=timeout,
            **self._batch_options(options),
        )

    def generate_as_completed(
        self,
        requests: Iterable[Request],
        *,
        concurrency: int = 24,
        timeout: float = 300.0,
        **options: Unpack[BatchOptions],
    ) -> BatchRun[Result]:
        """Like `generate_many`, but yields ``(index, outcome)`` as each request finishes.

            with client.generate_as_completed(prompts, journal="tasks.sqlite") as run:
                for index, outcome in run:
                    print(index, outcome, run.counts.in_flight)

        Nothing is sent before the first iteration. Leaving the ``with`` block stops the
        run (POSTs already sent are awaited and recorded; created tasks stay resumable).
        """
        from flux_flex._batch.threads import BatchRun

        return BatchRun(
            self._batch_parts(),
            requests,
            concurrency=concurrency,
            timeout=timeout,
            **self._batch_options(options),
        )

    def close(self) -> None:
        """Close the HTTP connections (not those of a client you passed in), and the task
        journal the client opened."""
        if self._owns_http:
            self._http.close()
        if self._owns_journal and self._journal is not None:
            self._journal.close()
