"""`BaseClient`: everything the sync and async clients share — construction and options,
``with_options``, ``job``, ``validate``, ``estimate_cost``, and every call up to its I/O.

A call is built here as a `Call` (its flow, and how to finish the flow's value into what the
call returns); `FluxFlex` runs it blocking and `AsyncFluxFlex` awaits it. That is all that
differs between the two (as openai-python's ``_base_client.py`` does for its clients).
"""

from __future__ import annotations

import copy
import functools
import os
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, Unpack, cast

import attrs
import httpx

from flux_flex import _files
from flux_flex._client_core import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    Call,
    ClientCore,
    ClientOptions,
    Generated,
)
from flux_flex._config import resolve_settings
from flux_flex._core.actions import Action, Answer, HttpResponse, Report
from flux_flex._core.deadline import Deadline
from flux_flex._core.journaled import JournaledCall, Outcome, Submitted
from flux_flex._core.pricing import Estimate
from flux_flex._core.request import PreparedRequest
from flux_flex._core.retry import RetryPolicy
from flux_flex._core.schedule import PollSchedule, normalize_progress
from flux_flex._core.status import Acknowledged, Finished, Polled
from flux_flex._requests import prepare, target_format
from flux_flex._version import package_version
from flux_flex.completion import CompletionSource
from flux_flex.errors import ConfigurationError, FieldError, RequestValidationError
from flux_flex.models import JobInfo, ProgressCallback, ResultInfo, TaskSnapshot
from flux_flex.params import SubmitParams

if TYPE_CHECKING:  # a journal is loaded only by a client or a call given one
    from flux_flex._call_journal import CallJournal
    from flux_flex.journal import Journal

__all__ = ["BaseClient", "BatchParts", "snapshot_of", "user_agent"]

JobT = TypeVar("JobT", bound=JobInfo)
ResultT = TypeVar("ResultT", bound=ResultInfo)
DriverT = TypeVar("DriverT")
HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)
R = TypeVar("R")


@functools.cache
def user_agent() -> str:
    """``flux-flex/<version> (python-httpx/<version>)``: what our own HTTP clients send."""
    return f"flux-flex/{package_version()} (python-httpx/{httpx.__version__})"


@attrs.frozen
class BatchParts(Generic[DriverT, R]):
    """What a client hands its batch runner: the core (flows), the driver that runs them,
    and how a finished task becomes the client's result (with the path it was saved to)."""

    core: ClientCore
    driver: DriverT
    result: Callable[[Finished, str | None], R]


class BaseClient(Generic[JobT, ResultT, DriverT, HttpT]):
    """What `flux_flex.FluxFlex` and `flux_flex.AsyncFluxFlex` share: their parameters and
    every part of a call that is not I/O.

    ``api_key`` defaults to ``$BFL_API_KEY``; ``base_url`` to ``$BFL_BASE_URL``, else the
    host of ``region`` (``"global"``, ``"eu"``, ``"us"``), else ``https://api.bfl.ai``.
    ``timeout`` bounds each single HTTP request, as httpx's does (seconds or an
    ``httpx.Timeout``); a method's own ``timeout`` bounds the whole call. ``max_retries`` /
    ``retry`` set the retry budget; ``poll_schedule`` spaces the polls; ``trusted_hosts``
    may receive the API key besides the base URL's host (and HTTPS hosts under bfl.ai);
    ``download_timeout`` and ``max_download_bytes`` bound each image download;
    ``max_connections`` sizes the connection pool. Pass ``http_client`` to use your own
    httpx client (it is not closed by us). ``journal`` (a `Journal`, a path,
    ``sqlite:///path`` or ``postgresql://...``) keeps every ``generate`` and ``submit`` in
    that task journal and lets them take an ``idempotency_key``; one given as a path or URL
    is opened on first use and closed with the client. ``$FLUX_FLEX_JOURNAL`` is not read:
    pass ``journal=flux_flex.journal.journal_from_env()`` for that.
    """

    _job_type: ClassVar[Callable[..., Any]]
    _result_type: ClassVar[Callable[..., Any]]
    _driver: DriverT

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_schedule: PollSchedule | None = None,
        trusted_hosts: Sequence[str] = (),
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        http_client: HttpT | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(max_connections, bool) or not (
            isinstance(max_connections, int) and max_connections >= 1
        ):
            raise ConfigurationError(
                f"max_connections must be an integer of at least 1, not {max_connections!r}."
            )
        options = ClientOptions.build(
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            poll_schedule=poll_schedule,
            trusted_hosts=trusted_hosts,
            download_timeout=download_timeout,
            max_download_bytes=max_download_bytes,
        )
        settings = resolve_settings(api_key, base_url, region)
        # The history of earlier waits, kept between processes (a fresh process starts warm).
        from flux_flex._timings_cache import persistent_timings

        self._core = ClientCore(settings, options, persistent_timings(settings.base_url))
        self._journal: CallJournal | None = None
        self._owns_journal = False
        if journal is not None:
            from flux_flex._call_journal import CallJournal

            self._journal = CallJournal(journal)
            self._owns_journal = True
        self._max_connections = max_connections
        self._owns_http = http_client is None
        self._http: HttpT = self._new_http() if http_client is None else http_client
        self._driver = self._new_driver()

    def _new_http(self) -> HttpT:
        """The HTTP client this client makes for itself (sync or async: the I/O side)."""
        raise NotImplementedError

    def _http_options(self) -> dict[str, Any]:
        """The settings of the HTTP client the client makes itself (sync or async)."""
        limit = self._max_connections
        return {
            "timeout": self._core.options.timeout,
            "limits": httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            "headers": {"user-agent": user_agent()},
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key='***')"

    @property
    def base_url(self) -> str:
        """The API host requests go to."""
        return self._core.base_url

    # -- what needs no I/O ---------------------------------------------------------------------
    def job(
        self, task_id: str, polling_url: str | None = None, *, webhook_secret: str | None = None
    ) -> JobT:
        """A job for a task submitted earlier (e.g. after a `WaitTimeoutError`), to wait for.

        Give the ``webhook_secret`` it was submitted with, if any: errors then mask it too.
        """
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("task_id must be a non-empty string")
        job = self._job_type(
            id=task_id,
            polling_url=self._core.polling_url(task_id, polling_url),
            webhook_secret=webhook_secret,
            client=self,
        )
        return cast(JobT, job)

    def validate(
        self,
        prompt: str,
        *,
        save_to: str | os.PathLike[str] | None = None,
        **params: Unpack[SubmitParams],
    ) -> None:
        """Check a request exactly as `generate` would (body, images, ``save_to``'s
        extension), sending nothing: one `RequestValidationError` listing every refused
        field, an unknown keyword included (``sead`` → "did you mean 'seed'?"). The same
        check as `flux_flex.prepare_request`, which needs no client."""
        prepare(prompt, params, save_to)

    def estimate_cost(self, prompt: str, **params: Unpack[SubmitParams]) -> Estimate:
        """What a task with these parameters should cost, from the published pricing; nothing
        is sent (synchronous on both clients: it only reads local input images).

        The request is checked as `submit` checks it (`RequestValidationError`). Input images
        are measured by their real size (paths, bytes, base64 and data URIs are decoded);
        a URL's size is unknown and assumed (see ``Estimate.assumptions``), as is the output
        size when width/height are left to the model. The ``cost`` the API answers (on the
        job, and settled on the result) is the authority; this is only a guide.
        """
        return prepare(prompt, params, call="estimate_cost").estimate()

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_schedule: PollSchedule | None = None,
        trusted_hosts: Sequence[str] | None = None,
        download_timeout: float | None = None,
        max_download_bytes: int | None = None,
    ) -> Self:
        """A copy of this client with the options given replaced (the others kept), sharing
        its connection pool and its history of waits: closing the copy leaves the pool
        open, closing this client closes it for both.

        ``client.with_options(timeout=5, max_retries=0).get_result(task_id)``
        """
        options = self._core.options.replace(
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            poll_schedule=poll_schedule,
            trusted_hosts=trusted_hosts,
            download_timeout=download_timeout,
            max_download_bytes=max_download_bytes,
        )
        clone = copy.copy(self)
        clone._core = self._core.with_options(options)
        clone._share_connections(self)
        return clone

    def _share_connections(self, original: BaseClient[JobT, ResultT, DriverT, HttpT]) -> None:
        """A `with_options` copy: ``original``'s pool and journal (not to close), a driver of
        its own."""
        self._owns_http = False
        self._owns_journal = False
        self._driver = self._new_driver()

    def _new_driver(self) -> DriverT:
        """A driver over this client's HTTP client, with its key and timeouts (I/O side)."""
        raise NotImplementedError

    def _batch_parts(self) -> BatchParts[DriverT, ResultT]:
        return BatchParts(self._core, self._driver, self._result)

    def _batch_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """A batch's options; its journal is the client's unless it names one (None: none)."""
        if self._journal is None or "journal" in options:
            return dict(options)
        return {**options, "journal": self._journal.for_batch()}

    # -- calls: their flows, and how their values become what the call returns ----------------
    def _submit_call(
        self,
        prompt: Any,
        params: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
    ) -> Call[JobT]:
        request = prepare(prompt, params, call="submit")
        port = self._call_journal(journal, idempotency_key)
        if port is None:
            return Call(self._core.submit_flow(request, None), self._job_after(request))
        call = JournaledCall.of(
            request,
            key=idempotency_key,
            token=uuid.uuid4().hex,
            method="submit",
            save_to=None,
            resubmit_uncertain=resubmit_uncertain,
        )
        flow = self._core.journaled_submit_flow(request, call, port)
        clock = self._core.env.clock

        def finish(submitted: Submitted) -> JobT:
            ack = submitted.ack
            if not ack.polling_url:  # an earlier call's task, kept without its polling URL
                ack = attrs.evolve(ack, polling_url=self._core.polling_url(ack.id, None))
            return self._job(ack, clock() if submitted.fresh else None, request.secrets)

        return Call(flow, finish)

    def _call_journal(
        self, journal: Journal | str | os.PathLike[str] | None, key: str | None
    ) -> CallJournal | None:
        """The journal a call keeps (its own, else the client's; None: none), checked with
        its ``idempotency_key`` before anything is sent."""
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise RequestValidationError(
                f"idempotency_key must be a non-empty string naming one request (e.g. your "
                f"order or job id), not {key!r}. Nothing was sent.",
                errors=[FieldError("idempotency_key", "type", "a non-empty string")],
            )
        if journal is not None:
            from flux_flex._call_journal import CallJournal

            return CallJournal(journal, per_call=True)
        if self._journal is None and key is not None:
            raise ConfigurationError(
                f"idempotency_key={key!r} needs a task journal to remember the key in, and "
                "this client has none, so nothing was sent. Give one to the client or to "
                "the call: journal='tasks.sqlite' (one machine), or "
                "journal='postgresql://user@host/db' shared by every worker "
                "(flux_flex.journal.journal_from_env() reads $FLUX_FLEX_JOURNAL)."
            )
        return self._journal

    def _job_after(self, request: PreparedRequest) -> Callable[[Acknowledged], JobT]:
        clock = self._core.env.clock
        return lambda ack: self._job(ack, clock(), request.secrets)

    def _wait_call(
        self,
        job: JobInfo | str,
        *,
        timeout: float,
        on_progress: ProgressCallback | None = None,
        webhook: CompletionSource | None = None,
        webhook_grace: float | None = None,
        save_to: str | os.PathLike[str] | None = None,
    ) -> Call[ResultT]:
        info = self.job(job) if isinstance(job, str) else job
        secrets = (info.webhook_secret,) if info.webhook_secret else ()
        if save_to is not None:
            target_format(save_to, None, field="save_to")
            _files.prepare_target(save_to)
        deadline = self._core.deadline(timeout)
        flow = self._core.wait_flow(
            info.id,
            info.polling_url,
            deadline=deadline,
            webhook=webhook is not None,
            webhook_grace=webhook_grace,
            submitted_at=info.submitted_at,
            secrets=secrets,
        )
        if save_to is not None:
            flow = self._then_download(flow, save_to, deadline, secrets)
        return Call(flow, self._finish_result(save_to), webhook, self._on_report(on_progress))

    def _then_download(
        self,
        wait: Generator[Action, Answer, Finished],
        save_to: str | os.PathLike[str],
        deadline: Deadline,
        secrets: Sequence[str],
    ) -> Generator[Action, Answer, tuple[Finished, HttpResponse]]:
        finished = yield from wait
        download = yield from self._core.download_flow(
            finished.url, finished.id, os.fspath(save_to), deadline=deadline, secrets=secrets
        )
        return finished, download

    def _finish_result(self, save_to: str | os.PathLike[str] | None) -> Callable[[Any], ResultT]:
        if save_to is None:
            return lambda finished: self._result(finished)

        def finish(value: tuple[Finished, HttpResponse]) -> ResultT:
            finished, download = value
            return self._result(
                finished, self._core.saved(download, os.fspath(save_to), finished.id)
            )

        return finish

    def _generate_call(
        self,
        prompt: Any,
        params: Mapping[str, Any],
        *,
        save_to: str | os.PathLike[str] | None,
        timeout: float,
        on_progress: ProgressCallback | None,
        webhook: CompletionSource | None,
        webhook_grace: float | None,
        idempotency_key: str | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
    ) -> Call[ResultT]:
        request = prepare(prompt, params, save_to, call="generate")
        port = self._call_journal(journal, idempotency_key)
        deadline = self._core.deadline(timeout)
        if request.save_to is not None:
            _files.prepare_target(request.save_to)
        on_report = self._on_report(on_progress)
        if port is not None:
            call = JournaledCall.of(
                request,
                key=idempotency_key,
                token=uuid.uuid4().hex,
                method="generate",
                save_to=None if request.save_to is None else os.path.abspath(request.save_to),
                format_given=params.get("output_format") is not None,
                resubmit_uncertain=resubmit_uncertain,
            )
            journaled = self._core.journaled_generate_flow(
                request,
                call,
                port,
                deadline=deadline,
                webhook=webhook is not None,
                webhook_grace=webhook_grace,
            )

            def result_of(outcome: Outcome) -> ResultT:
                return self._result(outcome.finished, outcome.path)

            return Call(journaled, result_of, webhook, on_report)
        flow = self._core.generate_flow(
            request, deadline=deadline, webhook=webhook is not None, webhook_grace=webhook_grace
        )

        def finish(generated: Generated) -> ResultT:
            finished, path = generated.finished, None
            if generated.download is not None:
                assert request.save_to is not None
                path = self._core.saved(generated.download, request.save_to, finished.id)
            return self._result(finished, path)

        return Call(flow, finish, webhook, on_report)

    def _get_result_call(self, task: JobInfo | str, polling_url: str | None) -> Call[TaskSnapshot]:
        if isinstance(task, str):
            flow = self._core.poll_flow(task, polling_url)
        else:
            secrets = (task.webhook_secret,) if task.webhook_secret else ()
            flow = self._core.poll_flow(task.id, polling_url or task.polling_url, secrets=secrets)
        return Call(flow, _snapshot_of_poll)

    def _download_call(self, result: ResultInfo, path: str | os.PathLike[str]) -> Call[str]:
        target_format(path, None, field="path")
        flow = self._core.download_flow(result.url, result.id, os.fspath(path))
        return Call(flow, lambda response: self._core.saved(response, os.fspath(path), result.id))

    def _download_bytes_call(self, result: ResultInfo) -> Call[bytes]:
        flow = self._core.download_flow(result.url, result.id, None)
        return Call(flow, lambda response: response.content)

    def _credits_call(self) -> Call[float]:
        return Call(self._core.credits_flow(), float)

    # -- the public objects --------------------------------------------------------------------
    def _job(self, ack: Acknowledged, submitted_at: float | None, secrets: Sequence[str]) -> JobT:
        job = self._job_type(
            **attrs.asdict(ack, recurse=False),
            submitted_at=submitted_at,
            webhook_secret=secrets[0] if secrets else None,
            client=self,
        )
        return cast(JobT, job)

    def _result(self, finished: Finished, path: str | None = None) -> ResultT:
        result = self._result_type(**attrs.asdict(finished, recurse=False), path=path, client=self)
        return cast(ResultT, result)

    @staticmethod
    def _on_report(on_progress: ProgressCallback | None) -> Callable[[Report], object] | None:
        if on_progress is None:
            return None
        return lambda report: on_progress(snapshot_of(report))


def snapshot_of(report: Report) -> TaskSnapshot:
    """A flow's report of a poll, as ``on_progress`` receives it."""
    return TaskSnapshot(report.task_id, report.status, report.progress, report.result, report.raw)


def _snapshot_of_poll(polled: Polled) -> TaskSnapshot:
    """One poll as `get_result` returns it: progress as a fraction (above 1: a percentage)."""
    progress = polled.progress
    fraction = normalize_progress(progress, percent=progress is not None and progress > 1.0)
    return TaskSnapshot(polled.id, polled.status, fraction, polled.result, polled.raw)
