"""What a client is, without I/O: its options, and the flows its calls run.

`ClientOptions` checks the options once. `ClientCore` turns a call into its flow — the
deadline built once per call, the secrets to mask built with the request and carried by every
step — and the flow's value into what the call returns. The sync and async clients, and the
batch runners, only execute what it hands them (`Call`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, TypeVar

import attrs
import httpx

from flux_flex import _files
from flux_flex._config import Settings
from flux_flex._core import journaled
from flux_flex._core.account import credits_flow
from flux_flex._core.actions import Action, Answer, HttpRequest, HttpResponse, Report
from flux_flex._core.deadline import Deadline
from flux_flex._core.flows import Flow, FlowEnv, download_flow, poll_flow, submit_flow, wait_flow
from flux_flex._core.hosts import KeyDestinations
from flux_flex._core.journaled import JournaledCall, JournalPort, Outcome, Submitted
from flux_flex._core.redact import masked_flow
from flux_flex._core.request import PreparedRequest
from flux_flex._core.retry import RetryPolicy
from flux_flex._core.schedule import PollSchedule, TaskTimings
from flux_flex._core.sniff import sniff_format
from flux_flex._core.status import Acknowledged, Finished, Polled, default_polling_url
from flux_flex.completion import CompletionSource
from flux_flex.errors import ConfigurationError

__all__ = [
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_WEBHOOK_GRACE",
    "Call",
    "ClientCore",
    "ClientOptions",
    "Generated",
]

DEFAULT_WEBHOOK_GRACE = 5.0
# A 4 MP PNG is at most ~16 MB of pixels (uncompressed RGBA); these leave a wide margin.
DEFAULT_DOWNLOAD_TIMEOUT = 120.0
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
# One pool for everything, sized for generate_many's default concurrency (24 tasks in
# flight, the API's limit) plus downloads.
DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_REQUEST_BOUND = 30.0
"""How long one request may take when the client's timeout sets no bound at all."""

T = TypeVar("T")


@attrs.frozen
class ClientOptions:
    """A client's options, checked once (`build`); `replace` is ``with_options``."""

    timeout: httpx.Timeout
    retry: RetryPolicy
    poll_schedule: PollSchedule
    trusted_hosts: tuple[str, ...]
    download_timeout: float
    max_download_bytes: int

    @classmethod
    def build(
        cls,
        *,
        timeout: float | httpx.Timeout,
        max_retries: int | None,
        retry: RetryPolicy | None,
        poll_schedule: PollSchedule | None,
        trusted_hosts: Sequence[str],
        download_timeout: float,
        max_download_bytes: int,
    ) -> ClientOptions:
        """The options, checked: `ConfigurationError` for a timeout that could hang."""
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        return cls(
            timeout=_http_timeout(timeout),
            retry=policy,
            poll_schedule=poll_schedule or PollSchedule(),
            trusted_hosts=tuple(host.lower() for host in trusted_hosts),
            download_timeout=download_timeout,
            max_download_bytes=max_download_bytes,
        )

    def replace(self, *, max_retries: int | None = None, **changes: Any) -> ClientOptions:
        """These options with each one in ``changes`` that is not None replaced (the names of
        `build`'s parameters); ``max_retries`` applies to the ``retry`` policy in force (the
        one given, else this one's)."""
        current = attrs.asdict(self, recurse=False)
        current.update((name, value) for name, value in changes.items() if value is not None)
        return ClientOptions.build(max_retries=max_retries, **current)


def _http_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not (
        isinstance(timeout, int | float) and 0 < timeout < math.inf
    ):
        raise ConfigurationError(
            f"timeout must be a positive number of seconds, not {timeout!r}: requests must "
            "never hang."
        )
    return httpx.Timeout(timeout, connect=min(timeout, 10.0))


@attrs.frozen
class Call(Generic[T]):
    """A call, ready to execute: run ``flow`` (with ``source`` answering webhook waits and
    ``on_report`` told of every poll), then ``finish`` its value into what the call returns."""

    flow: Flow
    finish: Callable[[Any], T]
    source: CompletionSource | None = None
    on_report: Callable[[Report], object] | None = None


@attrs.frozen
class Generated:
    """What a generate flow returns: the acknowledgement (and when it came), the finished
    task, and the downloaded image when one was saved."""

    ack: Acknowledged
    submitted_at: float
    finished: Finished
    download: HttpResponse | None = None


class ClientCore:
    """A client's settings, options and wait history, and the flows its calls run."""

    def __init__(self, settings: Settings, options: ClientOptions, timings: TaskTimings) -> None:
        self.settings: Settings = settings
        self.options: ClientOptions = options
        self.timings: TaskTimings = timings
        """How this client's tasks took: times the polls of its next waits (shared by the
        copies `with_options` makes, as they share the connections)."""
        self.env: FlowEnv = FlowEnv(
            retry=options.retry,
            clock=time.monotonic,
            rng=random.Random(),
            secrets=(settings.api_key,),
            key_destinations=KeyDestinations(settings.base_url, options.trusted_hosts),
        )

    @property
    def base_url(self) -> str:
        """The API host requests go to."""
        return self.settings.base_url

    def with_options(self, options: ClientOptions) -> ClientCore:
        """A core with the same key, host and wait history, and ``options``."""
        return ClientCore(self.settings, options, self.timings)

    def deadline(self, timeout: float) -> Deadline:
        """A call's deadline, ``timeout`` seconds from now (built once per call)."""
        return Deadline.after(timeout, self.env.clock)

    def polling_url(self, task_id: str, polling_url: str | None) -> str:
        """Where to poll ``task_id``: its own ``polling_url``, else the default one."""
        return polling_url or default_polling_url(self.base_url, task_id)

    # -- flows: each masks the API key and the request's own secrets in every error -----------
    def _env(self, secrets: Sequence[str]) -> FlowEnv:
        if not secrets:
            return self.env
        return attrs.evolve(self.env, secrets=(*self.env.secrets, *secrets))

    def submit_flow(self, request: PreparedRequest, deadline: Deadline | None) -> Flow:
        """Submit ``request`` (billed; resent only when that is safe): the `Acknowledged`."""
        env = self._env(request.secrets)
        http = HttpRequest(
            "POST", self.base_url + request.path, idempotent=False, json=request.body
        )
        flow = submit_flow(http, env, base_url=self.base_url, deadline=deadline)
        return masked_flow(flow, env.secrets)

    def poll_flow(
        self,
        task_id: str,
        polling_url: str | None,
        *,
        secrets: Sequence[str] = (),
        deadline: Deadline | None = None,
    ) -> Generator[Action, Answer, Polled]:
        """One poll of ``task_id``."""
        env = self._env(secrets)
        end = None if deadline is None else deadline.at
        flow = poll_flow(self.polling_url(task_id, polling_url), task_id, env, end=end)
        return masked_flow(flow, env.secrets)

    def wait_flow(
        self,
        task_id: str,
        polling_url: str | None,
        *,
        deadline: Deadline,
        webhook: bool = False,
        webhook_grace: float | None = None,
        submitted_at: float | None = None,
        secrets: Sequence[str] = (),
    ) -> Flow:
        """Wait for ``task_id`` until it ends or ``deadline`` passes: the `Finished`."""
        env = self._env(secrets)
        flow = wait_flow(
            task_id,
            self.polling_url(task_id, polling_url),
            env,
            schedule=self.options.poll_schedule,
            deadline=deadline,
            webhook=webhook,
            webhook_grace=DEFAULT_WEBHOOK_GRACE if webhook_grace is None else webhook_grace,
            submitted_at=submitted_at,
            timings=self.timings,
        )
        return masked_flow(flow, env.secrets)

    def download_flow(
        self,
        url: str,
        task_id: str,
        path: str | None,
        *,
        deadline: Deadline | None = None,
        secrets: Sequence[str] = (),
    ) -> Generator[Action, Answer, HttpResponse]:
        """Fetch a sample, checked and bounded: streamed beside ``path``, else into memory."""
        env = self._env(secrets)
        flow = download_flow(
            url,
            env,
            task_id=task_id,
            download_dir=None if path is None else _files.download_dir_for(path),
            timeout=self.options.download_timeout,
            max_bytes=self.options.max_download_bytes,
            deadline=deadline,
        )
        return masked_flow(flow, env.secrets)

    def generate_flow(
        self,
        request: PreparedRequest,
        *,
        deadline: Deadline,
        webhook: bool,
        webhook_grace: float | None,
    ) -> Generator[Action, Answer, Generated]:
        """Submit, wait and (with ``request.save_to``) download, all within ``deadline``."""
        ack: Acknowledged = yield from self.submit_flow(request, deadline)
        submitted_at = self.env.clock()
        finished: Finished = yield from self.wait_flow(
            ack.id,
            ack.polling_url,
            deadline=deadline,
            webhook=webhook,
            webhook_grace=webhook_grace,
            submitted_at=submitted_at,
            secrets=request.secrets,
        )
        download = None
        if request.save_to is not None:
            download = yield from self.download_flow(
                finished.url,
                finished.id,
                request.save_to,
                deadline=deadline,
                secrets=request.secrets,
            )
        return Generated(ack, submitted_at, finished, download)

    def journaled_generate_flow(
        self,
        request: PreparedRequest,
        call: JournaledCall,
        port: JournalPort,
        *,
        deadline: Deadline,
        webhook: bool,
        webhook_grace: float | None,
    ) -> Generator[Action, Answer, Outcome]:
        """`generate_flow` kept in the task journal ``port`` as ``call`` (an idempotency
        key's, or named by its task): the image saved into place, and recorded."""
        save_to = request.save_to

        def wait(task_id: str, polling_url: str | None, submitted_at: float | None) -> Flow:
            return self.wait_flow(
                task_id,
                polling_url,
                deadline=deadline,
                webhook=webhook,
                webhook_grace=webhook_grace,
                submitted_at=submitted_at,
                secrets=request.secrets,
            )

        def download(finished: Finished) -> Generator[Action, Answer, HttpResponse]:
            assert save_to is not None
            return self.download_flow(
                finished.url, finished.id, save_to, deadline=deadline, secrets=request.secrets
            )

        def save(response: HttpResponse, task_id: str) -> str:
            assert save_to is not None
            return self.saved(response, save_to, task_id)

        steps = journaled.GenerateSteps(
            submit=lambda: self.submit_flow(request, deadline),
            wait=wait,
            download=download,
            save=save,
            has_image=_image_at,
            clock=self.env.clock,
        )
        flow = journaled.generate_flow(call, port, steps, deadline)
        return masked_flow(flow, self._env(request.secrets).secrets)

    def journaled_submit_flow(
        self, request: PreparedRequest, call: JournaledCall, port: JournalPort
    ) -> Generator[Action, Answer, Submitted]:
        """`submit_flow` kept in the task journal ``port`` as ``call``. Another live call
        sending the same key is waited for as long as one request may take."""
        held = self.deadline(self.request_bound())
        flow = journaled.submit_flow(
            call, port, lambda: self.submit_flow(request, None), held=held, clock=self.env.clock
        )
        return masked_flow(flow, self._env(request.secrets).secrets)

    def request_bound(self) -> float:
        """The longest one request may take: the largest of the client's timeouts."""
        limits = [value for value in self.options.timeout.as_dict().values() if value]
        return max(limits) if limits else DEFAULT_REQUEST_BOUND

    def credits_flow(self) -> Flow:
        """The account's balance (``GET /v1/credits``)."""
        return masked_flow(credits_flow(self.base_url, self.env), self.env.secrets)

    @staticmethod
    def saved(response: HttpResponse, path: str, task_id: str) -> str:
        """Move a streamed download into place at ``path``; the path written."""
        assert response.temp_path is not None
        return _files.finalize(response.temp_path, response.head, path, task_id)


def _image_at(path: str) -> bool:
    """Whether an image (a PNG, JPEG or WebP, by its first bytes) is at ``path``."""
    try:
        with open(path, "rb") as file:
            return sniff_format(file.read(16)) is not None
    except OSError:
        return False
