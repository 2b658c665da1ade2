from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from flux_flex._core.actions import (
    Action,
    Answer,
    AwaitDelivery,
    HttpFailure,
    HttpRequest,
    HttpResponse,
    RefusedBody,
    Report,
    Retrying,
    Send,
    Sleep,
)
from flux_flex._core.deadline import Deadline
from flux_flex._core.errormap import connection_error, error_from_response, parse_body
from flux_flex._core.hosts import KeyDestinations, host_of
from flux_flex._core.redact import mask_answer, mask_secrets
from flux_flex._core.retry import FailureKind, RetryDecision, RetryPolicy, decide
from flux_flex._core.schedule import PollPlanner, PollSchedule, TaskTimings, normalize_progress
from flux_flex._core.status import (
    Finished,
    Polled,
    interpret_poll,
    interpret_submit_body,
    interpret_webhook,
    task_error,
)
from flux_flex.errors import (
    DownloadError,
    FluxFlexError,
    ProtocolError,
    RateLimitError,
    UntrustedHostError,
    WaitTimeoutError,
)

__all__ = [
    "MIN_ATTEMPT",
    "DeadlineReached",
    "Flow",
    "FlowEnv",
    "download_flow",
    "poll_flow",
    "send_with_retries",
    "submit_flow",
    "wait_flow",
]

Flow = Generator[Action, Answer, Any]

MIN_ATTEMPT = 0.05
"""The least time (s) worth an attempt: with less left before a deadline, none is made."""


@attrs.frozen
class FlowEnv:
    """What every flow needs: retry policy, randomness, a monotonic clock, secrets to mask,
    and where the API key may be sent (by default only to HTTPS hosts under bfl.ai)."""

    retry: RetryPolicy
    clock: Callable[[], float]
    rng: random.Random = attrs.field(factory=random.Random)
    secrets: Sequence[str | None] = attrs.field(default=(), repr=False)
    key_destinations: KeyDestinations = attrs.field(factory=KeyDestinations)


class DeadlineReached(Exception):
    """A resend was safe but no time is left before the deadline; ``error`` is the last failure."""

    def __init__(self, error: FluxFlexError) -> None:
        super().__init__(str(error))
        self.error = error


def _json(response: HttpResponse, *, task_id: str | None, what: str) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raw = response.content.decode("utf-8", errors="replace")
        raise ProtocolError(
            f"The {what} answer (HTTP {response.status}) is not valid JSON.",
            raw=raw,
            task_id=task_id,
        ) from None


def _check_destination(request: HttpRequest, env: FlowEnv, task_id: str | None) -> None:
    """Refuse, before anything is sent, a request whose host may not receive the API key."""
    if not request.authenticated or env.key_destinations.allows(request.url):
        return
    host = host_of(request.url)
    base = env.key_destinations.base_url
    base_host = host_of(base) if base else None
    where = f"the host {host!r}" if host else f"{request.url!r}, which has no host"
    resume = (
        f" The task may still be running: from a client that trusts the host, resume with "
        f"client.job({task_id!r}, polling_url=...).wait()."
        if task_id
        else ""
    )
    raise UntrustedHostError(
        f"Refused to send the API key to {where}: it is neither the base URL's host "
        f"({base_host or 'none'}) nor an HTTPS host under bfl.ai, so nothing was sent there. "
        f"If you trust it, pass trusted_hosts=[{host or '...'!r}] to the client.{resume}",
        host=host,
        task_id=task_id,
    )


def _bounded(request: HttpRequest, env: FlowEnv, end: float | None) -> HttpRequest:
    """``request`` with its exchange bounded by the time left before ``end`` (clock time)."""
    if end is None:
        return request
    left = max(end - env.clock(), MIN_ATTEMPT)
    if request.timeout is not None and request.timeout <= left:
        return request
    return attrs.evolve(request, timeout=left)


def _decision(env: FlowEnv, request: HttpRequest, attempt: int, answer: Answer) -> RetryDecision:
    if isinstance(answer, HttpFailure):
        return decide(
            env.retry,
            idempotent=request.idempotent,
            attempt=attempt,
            rng=env.rng,
            failure=answer.kind,
        )
    if isinstance(answer, HttpResponse):
        return decide(
            env.retry,
            idempotent=request.idempotent,
            attempt=attempt,
            rng=env.rng,
            status=answer.status,
            headers=answer.headers,
        )
    if isinstance(answer, RefusedBody):
        return RetryDecision(retry=False)
    raise TypeError(f"a driver answered Send with {answer!r}")


def _fitted_delay(decision: RetryDecision, env: FlowEnv, end: float | None) -> float | None:
    """How long to wait before the resend so that it still fits before ``end``; None when
    it cannot (a server's ``Retry-After`` is never shortened; a backoff is)."""
    if end is None:
        return decision.delay
    left = end - env.clock()
    if decision.delay + MIN_ATTEMPT <= left:
        return decision.delay
    if decision.retry_after is not None or left < 2 * MIN_ATTEMPT:
        return None
    return min(decision.delay, left / 2)  # sooner than planned, leaving time for the attempt


def send_with_retries(
    request: HttpRequest,
    env: FlowEnv,
    *,
    submit: bool = False,
    task_id: str | None = None,
    end: float | None = None,
) -> Generator[Action, Answer, HttpResponse]:
    """Send ``request``, resending what is safe to resend; the 2xx answer or a typed error.

    Every authenticated request passes here, and is refused before it is sent when its host
    may not receive the API key (`UntrustedHostError`). With an ``end`` (clock time), each
    attempt is bounded by the time left, a backoff that would overrun it is shortened, and
    a ``Retry-After`` longer than the time left fails at once (`RateLimitError` for a 429);
    other failures that could have been retried raise `DeadlineReached`.
    """
    _check_destination(request, env, task_id)
    answer, decision = yield from _attempts(request, env, end, success=range(200, 300))
    if decision is None:
        assert isinstance(answer, HttpResponse)
        return answer
    error = _answer_error(answer, env, submit=submit, task_id=task_id, url=request.url)
    if not decision.retry:
        raise error
    if decision.retry_after is not None and isinstance(error, RateLimitError):
        raise _retry_after_too_long(error, env, end, submit=submit)
    raise DeadlineReached(error)  # resending was safe; only the deadline stopped it


def _attempts(
    request: HttpRequest, env: FlowEnv, end: float | None, *, success: range
) -> Generator[Action, Answer, tuple[Answer, RetryDecision | None]]:
    """Send ``request`` until an answer's status is in ``success``, resending while it is
    safe and there is time before ``end``: ``(that answer, None)``, or the last answer and
    the decision that stopped the resends."""
    attempt = 0
    while True:
        answer = yield Send(_bounded(request, env, end))
        if isinstance(answer, HttpResponse) and answer.status in success:
            return answer, None
        decision = _decision(env, request, attempt, answer)
        delay = _fitted_delay(decision, env, end) if decision.retry else None
        if delay is None:
            return answer, decision
        attempt += 1
        yield Retrying(_doing(request), _failure(answer), delay, attempt, env.retry.max_retries)
        if delay > 0:
            yield Sleep(delay)


def _doing(request: HttpRequest) -> str:
    if request.download:
        return "downloading the image"
    if request.method == "POST":
        return "submitting"
    return "checking the credits" if request.url.endswith("/credits") else "polling"


def _failure(answer: Answer) -> str:
    """What went wrong, in a few words, for the line that announces a resend."""
    if isinstance(answer, HttpFailure):
        if answer.kind is FailureKind.CONNECT:
            return (
                "connection refused" if "refused" in answer.detail.lower() else "could not connect"
            )
        if answer.kind is FailureKind.TIMEOUT:
            return "no answer in time"
        return "the connection broke"
    if isinstance(answer, HttpResponse | RefusedBody):
        return "HTTP 429 (too many requests)" if answer.status == 429 else f"HTTP {answer.status}"
    return "failed"


def _answer_error(
    answer: Answer, env: FlowEnv, *, submit: bool, task_id: str | None, url: str | None = None
) -> FluxFlexError:
    if isinstance(answer, HttpFailure):
        return connection_error(answer.kind, answer.detail, submit=submit, task_id=task_id, url=url)
    if isinstance(answer, RefusedBody) and answer.reason == "encoding":
        return ProtocolError(
            f"The API's answer (HTTP {answer.status}) came compressed as "
            f"{_encoding(answer)!r}, which flux-flex does not decode (it asks for gzip or "
            "deflate only); it was not read. Check the base URL and any proxy in between.",
            task_id=task_id,
        )
    if isinstance(answer, RefusedBody):
        return ProtocolError(
            f"The API's answer (HTTP {answer.status}) is larger than {answer.limit} bytes; it "
            "was not read. Check the base URL: this is not the FLUX.2 API.",
            task_id=task_id,
        )
    assert isinstance(answer, HttpResponse)
    return error_from_response(
        answer.status,
        parse_body(answer.content),
        answer.headers,
        submit=submit,
        task_id=task_id,
        secrets=env.secrets,
    )


def _retry_after_too_long(
    error: RateLimitError, env: FlowEnv, end: float | None, *, submit: bool
) -> RateLimitError:
    left = max((end or 0.0) - env.clock(), 0.0)
    if submit:
        what, advice = "submitting", "Nothing was billed: submit again after that."
    else:
        what = "polling"
        advice = (
            f"The task may still finish: resume with client.job({error.task_id!r}).wait() "
            "after that."
        )
    return RateLimitError(
        f"HTTP 429: the API asks to wait {error.retry_after:g} s before {what} again, longer "
        f"than the {left:.1f} s left before the deadline, so this gave up at once. {advice}",
        retry_after=error.retry_after,
        status_code=error.status_code,
        body=error.body,
        request_id=error.request_id,
        headers=error.headers,
        task_id=error.task_id,
    )


def submit_flow(
    request: HttpRequest, env: FlowEnv, *, base_url: str, deadline: Deadline | None = None
) -> Flow:
    """Submit once (resent only if it provably never left, or on 429); the `Acknowledged`.

    With a ``deadline``, gives up when it comes, raising the last failure.
    """
    end = None if deadline is None else deadline.at
    try:
        response = yield from send_with_retries(request, env, submit=True, end=end)
    except DeadlineReached as reached:
        raise reached.error from None
    return interpret_submit_body(response.content, base_url=base_url, secrets=env.secrets)


def poll_flow(
    polling_url: str, task_id: str, env: FlowEnv, *, end: float | None = None
) -> Generator[Action, Answer, Polled]:
    """One poll (GET, retried on 5xx/timeouts/broken links); the parsed answer.

    With an ``end`` (clock time) it never outlives it (`DeadlineReached` when retries run
    out of time).
    """
    request = HttpRequest("GET", polling_url, idempotent=True)
    response = yield from send_with_retries(request, env, task_id=task_id, end=end)
    payload = _json(response, task_id=task_id, what="poll's")
    # Masked here, once: the reports, the result, task errors and the journal all come from it.
    payload = mask_answer(payload, response.content, env.secrets)
    polled = interpret_poll(payload, expected_id=task_id, secrets=env.secrets)
    # (the answer's id was masked with it: an id that shows a run of a secret is the same id)
    if polled.id not in (task_id, mask_secrets(task_id, env.secrets)):
        raise ProtocolError(
            f"Polled task {task_id} but the answer is about {polled.id!r}.",
            raw=polled.raw,
            task_id=task_id,
        )
    return polled


def wait_flow(
    task_id: str,
    polling_url: str,
    env: FlowEnv,
    *,
    schedule: PollSchedule,
    deadline: Deadline,
    webhook: bool = False,
    webhook_grace: float = 5.0,
    submitted_at: float | None = None,
    timings: TaskTimings | None = None,
) -> Flow:
    """Wait for the task to finish: the `Finished`, or its typed error at once.

    With ``webhook``, first waits up to ``webhook_grace`` s for the delivery (no poll at
    all when it arrives), then polls as the fallback, waiting on the delivery between polls
    until ``webhook_grace`` s past the predicted finish (so a working delivery costs at most
    one poll, and a lost one at most ``webhook_grace`` s of delay).
    Raises `WaitTimeoutError` (with the last status seen) at the call's ``deadline``; no
    request outlives it.
    ``submitted_at`` (clock time of the submission, when known) anchors the progress rate;
    ``timings`` (the client's history of earlier waits, learnt from and added to) times the
    polls when there is no progress to go by.
    """
    end = deadline.at
    planner = PollPlanner(schedule, rng=env.rng, timings=timings)
    if submitted_at is not None:
        planner.started_at(submitted_at)
    last_status: str | None = None

    def timed_out() -> WaitTimeoutError:
        waited = env.clock() - deadline.start
        seen = f"last status: {last_status}" if last_status else "no poll was answered"
        return WaitTimeoutError(
            f"Task {task_id} was not ready after {waited:.1f} s (timeout {deadline.timeout:g} s; "
            f"{seen}). It may still finish: resume with client.job({task_id!r}).wait().",
            task_id=task_id,
            waited=waited,
            last_status=last_status,
        )

    def delivered(payload: Answer) -> Finished | None:
        if isinstance(payload, Mapping):
            return interpret_webhook(payload, task_id=task_id)
        return None

    def await_delivery(timeout: float) -> Generator[Action, Answer, Finished | None]:
        until = env.clock() + timeout
        payload = yield AwaitDelivery(task_id, timeout)
        finished = delivered(payload)
        if finished is None and payload is not None and env.clock() < until:
            # A delivery whose status is not final ends nothing, and a source hands it out
            # again at once: wait out the time rather than poll in a tight loop.
            yield Sleep(until - env.clock())
        return finished

    if webhook:
        grace = max(min(webhook_grace, end - env.clock()), 0.0)
        finished = yield from await_delivery(grace)
        if finished is not None:
            return finished
    elif submitted_at is not None:
        # A poll a moment after submitting learns nothing and measures no progress rate:
        # the first one comes `initial` s after the submission (later if `timings` say so).
        first_in = min(planner.first_delay(env.clock()), end - env.clock())
        if first_in > 0:
            yield Sleep(first_in)
    while True:
        if env.clock() >= end:
            raise timed_out()
        try:
            polled = yield from poll_flow(polling_url, task_id, env, end=end)
        except DeadlineReached as reached:
            raise timed_out() from reached.error
        last_status = polled.status
        progress = _finite_progress(polled.progress)
        planner.observe(env.clock(), progress, polled.status)
        yield Report(
            task_id, polled.status, _fraction(planner, progress), polled.result, polled.raw
        )
        if polled.finished is not None:
            return polled.finished
        error = task_error(task_id, polled.status, polled.raw)
        if error is not None:
            raise error
        now = env.clock()
        remaining = end - now
        if remaining <= 0:
            raise timed_out()
        if webhook:
            delay = min(planner.next_delay_with_webhook(now, webhook_grace), remaining)
            finished = yield from await_delivery(delay)
            if finished is not None:
                return finished
        else:
            yield Sleep(min(planner.next_delay(now), remaining))


def _finite_progress(value: float | None) -> float | None:
    """A poll's progress when it is a usable number: not NaN, not infinite, not negative."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return value


def _fraction(planner: PollPlanner, progress: float | None) -> float | None:
    return normalize_progress(progress, percent=planner.reports_percent)


def download_flow(
    url: str,
    env: FlowEnv,
    *,
    task_id: str,
    download_dir: str | None,
    timeout: float,
    max_bytes: int,
    deadline: Deadline | None = None,
) -> Generator[Action, Answer, HttpResponse]:
    """GET the sample (no ``x-key``): the 200 answer, its body checked to be an image.

    The whole download, resends included, ends within ``timeout`` s (the download's own
    bound), or at the call's ``deadline`` if sooner; resent on 5xx, timeouts and broken
    links while time is left. Every failure is a `DownloadError` with the task id, and
    leaves nothing on disk.
    """
    _check_sample_scheme(url, task_id)
    start = env.clock()
    end = start + timeout if deadline is None else min(start + timeout, deadline.at)
    request = HttpRequest(
        "GET", url, idempotent=True, authenticated=False, download_dir=download_dir,
        download=True, max_bytes=max_bytes,
    )  # fmt: skip
    answer, decision = yield from _attempts(request, env, end, success=range(200, 201))
    if decision is None:
        assert isinstance(answer, HttpResponse)
        return answer
    bound = (
        f"download_timeout ({timeout:g} s)"
        if deadline is None or start + timeout <= deadline.at
        else "the deadline"
    )
    raise _download_error(answer, task_id, out_of_time=decision.retry, bound=bound)


def _encoding(answer: RefusedBody) -> str:
    """The ``Content-Encoding`` an answer was refused for (shortened: it is the server's)."""
    return (answer.headers.get("content-encoding") or "")[:40]


def _check_sample_scheme(url: str, task_id: str) -> None:
    """Refuse at once a sample URL that is not http(s) (``file:``, ``data:``,
    ``javascript:``...): no transport may fetch it, nothing is read from the local disk,
    and no retry can help."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme in ("http", "https"):
        return
    named = f"scheme {scheme!a}" if scheme else "no scheme"
    raise DownloadError(
        f"The sample URL has {named}, not http or https, so it was not fetched (nothing is "
        "read from the local disk, and retrying cannot help). The API gives https sample "
        "URLs: generate the image again, and report this if it persists.",
        task_id=task_id,
    )


_EXPIRY = "the sample URL expires about 10 minutes after the task is ready"


def _download_error(
    answer: Answer, task_id: str, *, out_of_time: bool, bound: str
) -> DownloadError:
    """What went wrong with the download, said truthfully, and what to do about it."""
    again = (
        f"Nothing was saved. Fetch it again soon with client.job({task_id!r}).wait().save(...): "
        f"{_EXPIRY}."
    )
    if isinstance(answer, RefusedBody) and answer.status == 200 and answer.reason == "encoding":
        return DownloadError(
            f"The delivery host sent the image compressed as {_encoding(answer)!r}, which "
            "flux-flex does not decode (it asks for gzip or deflate only), so nothing was "
            "saved. Retrying will not help unless the host changes: report this if it "
            "persists.",
            task_id=task_id,
            status_code=answer.status,
        )
    if isinstance(answer, RefusedBody) and answer.status == 200:
        content_type = answer.headers.get("content-type") or "no content type"
        if answer.reason == "too_large":
            size = (
                f"the server announced {answer.size} bytes"
                if answer.announced
                else "more than that arrived"
            )
            return DownloadError(
                f"The image is larger than max_download_bytes ({answer.limit} bytes; {size}): "
                "the download was stopped and nothing was saved. Raise max_download_bytes if "
                "the image is genuine.",
                task_id=task_id,
                status_code=answer.status,
            )
        return DownloadError(
            f"The sample URL answered {content_type!r}, not a PNG, JPEG or WebP image, so "
            "nothing was saved. The delivery host may be failing: try again in a moment "
            f"(client.job({task_id!r}).wait().save(...)), or generate the image again.",
            task_id=task_id,
            status_code=answer.status,
        )
    if isinstance(answer, HttpFailure):
        if answer.kind is FailureKind.PROTOCOL:
            return DownloadError(
                f"The delivery host's answer broke HTTP ({answer.detail}), so nothing was "
                "saved. Retrying will not help: generate the image again, and report this if "
                "it persists.",
                task_id=task_id,
            )
        if out_of_time:
            return DownloadError(
                f"The image download did not finish within {bound}: {answer.detail}. " + again,
                task_id=task_id,
            )
        return DownloadError(
            f"The image download broke ({answer.detail}), still failing after retries. " + again,
            task_id=task_id,
        )
    assert isinstance(answer, HttpResponse | RefusedBody)  # an error page too large to read
    status = answer.status
    if status in (401, 403):
        message = (
            f"HTTP {status} from the delivery host: it refused the signed sample URL, which "
            f"has expired ({_EXPIRY}: download promptly) or was altered. Retrying will not "
            "help: generate the image again."
        )
    elif status in (404, 410):
        message = (
            f"HTTP {status} from the delivery host: the sample is gone ({_EXPIRY}: download "
            "promptly). Generate the image again."
        )
    elif status >= 500 or status == 429:
        ran_out = f"no time left within {bound}" if out_of_time else "still failing after retries"
        message = f"HTTP {status} from the delivery host, {ran_out}. " + again
    else:
        message = (
            f"HTTP {status} from the delivery host while downloading the image; nothing was "
            "saved. Generate the image again, and report this if it persists."
        )
    return DownloadError(message, task_id=task_id, status_code=status)
