"""The protocol as generators: each yields actions (send, sleep, await a delivery, report)
and receives their outcomes; the sync and async drivers execute them.

    flow = wait_flow(...)
    action = next(flow)
    while True: action = flow.send(execute(action))   # until StopIteration(value)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import attrs

from flux_flex._core.actions import (
    Action,
    Answer,
    AwaitDelivery,
    HttpFailure,
    HttpRequest,
    HttpResponse,
    Report,
    Send,
    Sleep,
)
from flux_flex._core.errormap import connection_error, error_from_response, parse_body
from flux_flex._core.retry import RetryPolicy, decide
from flux_flex._core.schedule import PollPlanner, PollSchedule, TaskTimings, normalize_progress
from flux_flex._core.status import (
    Finished,
    Polled,
    interpret_poll,
    interpret_submit,
    interpret_webhook,
    task_error,
)
from flux_flex.errors import DownloadError, FluxFlexError, ProtocolError, WaitTimeoutError

__all__ = ["Flow", "FlowEnv", "download_flow", "poll_flow", "submit_flow", "wait_flow"]

Flow = Generator[Action, Answer, Any]


@attrs.frozen
class FlowEnv:
    """What every flow needs: retry policy, randomness, a monotonic clock, secrets to mask."""

    retry: RetryPolicy
    clock: Callable[[], float]
    rng: random.Random = attrs.field(factory=random.Random)
    secrets: Sequence[str | None] = attrs.field(default=(), repr=False)


class DeadlineReached(Exception):
    """A retry was safe but would pass the wait's deadline; the cause is the last failure."""


def _json(response: HttpResponse, *, task_id: str | None, what: str) -> Any:
    try:
        import json

        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raw = response.content.decode("utf-8", errors="replace")
        raise ProtocolError(
            f"The {what} answer (HTTP {response.status}) is not valid JSON.",
            raw=raw,
            task_id=task_id,
        ) from None


def send_with_retries(
    request: HttpRequest,
    env: FlowEnv,
    *,
    submit: bool = False,
    task_id: str | None = None,
    deadline: float | None = None,
) -> Generator[Action, Answer, HttpResponse]:
    """Send ``request``, resending what is safe to resend; the 2xx answer or a typed error."""
    attempt = 0
    while True:
        answer = yield Send(request)
        if isinstance(answer, HttpResponse) and 200 <= answer.status < 300:
            return answer
        if isinstance(answer, HttpFailure):
            decision = decide(
                env.retry,
                idempotent=request.idempotent,
                attempt=attempt,
                rng=env.rng,
                failure=answer.kind,
            )
        elif isinstance(answer, HttpResponse):
            decision = decide(
                env.retry,
                idempotent=request.idempotent,
                attempt=attempt,
                rng=env.rng,
                status=answer.status,
                headers=answer.headers,
            )
        else:
            raise TypeError(f"a driver answered Send with {answer!r}")
        if decision.retry and (deadline is None or env.clock() + decision.delay < deadline):
            attempt += 1
            if decision.delay > 0:
                yield Sleep(decision.delay)
            continue
        error: FluxFlexError
        if isinstance(answer, HttpFailure):
            error = connection_error(answer.kind, answer.detail, submit=submit, task_id=task_id)
        else:
            error = error_from_response(
                answer.status,
                parse_body(answer.content),
                answer.headers,
                submit=submit,
                task_id=task_id,
                secrets=env.secrets,
            )
        if decision.retry:  # retrying was safe, only the deadline stopped it
            raise DeadlineReached() from error
        raise error


def submit_flow(request: HttpRequest, env: FlowEnv, *, base_url: str) -> Flow:
    """Submit once (resent only if it provably never left, or on 429); the `Acknowledged`."""
    response = yield from send_with_retries(request, env, submit=True)
    return interpret_submit(_json(response, task_id=None, what="submission's"), base_url=base_url)


def poll_flow(
    polling_url: str, task_id: str, env: FlowEnv, *, deadline: float | None = None
) -> Generator[Action, Answer, Polled]:
    """One poll (GET, retried on 5xx/timeouts/broken links); the parsed answer."""
    # A poll never outlives the wait's deadline (a small floor lets it answer at all).
    cap = None if deadline is None else max(deadline - env.clock(), 0.05)
    request = HttpRequest("GET", polling_url, idempotent=True, timeout=cap)
    response = yield from send_with_retries(request, env, task_id=task_id, deadline=deadline)
    polled = interpret_poll(_json(response, task_id=task_id, what="poll's"), expected_id=task_id)
    if polled.id != task_id:
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
    timeout: float,
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
    Raises `WaitTimeoutError` once ``timeout`` s have passed. ``submitted_at`` (clock time of
    the submission, when known) anchors the progress rate estimate; ``timings`` (the
    client's history of earlier waits, learnt from and added to) times the polls when
    there is no progress to go by.
    """
    start = env.clock()
    deadline = start + timeout
    planner = PollPlanner(schedule, rng=env.rng, timings=timings)
    if submitted_at is not None:
        planner.started_at(submitted_at)

    def timed_out() -> WaitTimeoutError:
        waited = env.clock() - start
        return WaitTimeoutError(
            f"Task {task_id} was not ready after {waited:.1f} s (timeout {timeout:g} s). It may "
            f"still finish: resume with client.job({task_id!r}).wait().",
            task_id=task_id,
            waited=waited,
        )

    def delivered(payload: Answer) -> Finished | None:
        if isinstance(payload, Mapping):
            return interpret_webhook(payload, task_id=task_id)
        return None

    if webhook:
        finished = delivered((yield AwaitDelivery(task_id, max(min(webhook_grace, timeout), 0.0))))
        if finished is not None:
            return finished
    elif submitted_at is not None:
        # A poll a moment after submitting learns nothing and measures no progress rate:
        # the first one comes `initial` s after the submission (later if `timings` say so).
        first_in = min(planner.first_delay(env.clock()), deadline - env.clock())
        if first_in > 0:
            yield Sleep(first_in)
    while True:
        if env.clock() >= deadline:
            raise timed_out()
        try:
            polled = yield from poll_flow(polling_url, task_id, env, deadline=deadline)
        except DeadlineReached as reached:
            raise timed_out() from reached.__cause__
        planner.observe(env.clock(), polled.progress, polled.status)
        yield Report(
            task_id, polled.status, _fraction(planner, polled.progress), polled.result, polled.raw
        )
        if polled.finished is not None:
            return polled.finished
        error = task_error(task_id, polled.status, polled.raw)
        if error is not None:
            raise error
        now = env.clock()
        remaining = deadline - now
        if remaining <= 0:
            raise timed_out()
        if webhook:
            delay = min(planner.next_delay_with_webhook(now, webhook_grace), remaining)
            finished = delivered((yield AwaitDelivery(task_id, delay)))
            if finished is not None:
                return finished
        else:
            yield Sleep(min(planner.next_delay(now), remaining))


def _fraction(planner: PollPlanner, progress: float | None) -> float | None:
    return normalize_progress(progress, percent=planner.reports_percent)


def download_flow(
    url: str, env: FlowEnv, *, task_id: str, download_dir: str | None
) -> Generator[Action, Answer, HttpResponse]:
    """GET the sample (no ``x-key``), resent on 5xx/timeouts; 403/404/410 → `DownloadError`."""
    request = HttpRequest(
        "GET", url, idempotent=True, authenticated=False, download_dir=download_dir
    )
    attempt = 0
    while True:
        answer = yield Send(request)
        if isinstance(answer, HttpResponse) and answer.status == 200:
            return answer
        if isinstance(answer, HttpFailure):
            decision = decide(
                env.retry, idempotent=True, attempt=attempt, rng=env.rng, failure=answer.kind
            )
        elif isinstance(answer, HttpResponse):
            decision = decide(
                env.retry,
                idempotent=True,
                attempt=attempt,
                rng=env.rng,
                status=answer.status,
                headers=answer.headers,
            )
        else:
            raise TypeError(f"a driver answered Send with {answer!r}")
        if decision.retry:
            attempt += 1
            yield Sleep(decision.delay)
            continue
        raise _download_error(answer, task_id)


def _download_error(answer: HttpResponse | HttpFailure, task_id: str) -> DownloadError:
    if isinstance(answer, HttpFailure):
        return DownloadError(
            f"The image download broke ({answer.detail}). Retry soon: the sample URL expires "
            "about 10 minutes after the task is ready.",
            task_id=task_id,
        )
    if answer.status in (403, 404, 410):
        return DownloadError(
            f"HTTP {answer.status}: the sample URL has expired or is invalid. Sample URLs "
            "expire about 10 minutes after the task is ready: download promptly (generate "
            "again if it is gone).",
            task_id=task_id,
            status_code=answer.status,
        )
    return DownloadError(
        f"HTTP {answer.status} while downloading the image. Retry soon: the sample URL "
        "expires about 10 minutes after the task is ready.",
        task_id=task_id,
        status_code=answer.status,
    )


__all__ += ["send_with_retries"]
