"""The core's flows driven by hand: scripted answers, a fake clock, no I/O at all."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from flux_flex import PollSchedule, RetryPolicy, WaitTimeoutError
from flux_flex._core.actions import (
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
from flux_flex._core.flows import FlowEnv, download_flow, submit_flow, wait_flow
from flux_flex._core.hosts import KeyDestinations
from flux_flex._core.retry import FailureKind
from flux_flex.errors import (
    APITimeoutError,
    DownloadError,
    RateLimitError,
    ServerError,
    UntrustedHostError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


KEY_HOSTS = KeyDestinations("https://api", trusted_hosts=("eu",))


def env(clock: Clock, *, retry: RetryPolicy | None = None) -> FlowEnv:
    return FlowEnv(
        retry=retry or RetryPolicy(max_retries=3),
        clock=clock,
        rng=random.Random(0),
        key_destinations=KEY_HOSTS,
    )


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, headers or {}, json.dumps(body).encode())


def drive(flow: Any, answers: list[Any], clock: Clock) -> tuple[list[Any], Any]:
    """Run ``flow``: Send gets the next scripted answer, Sleep advances the clock."""
    actions: list[Any] = []
    reply: Any = None
    try:
        while True:
            action = flow.send(reply)
            actions.append(action)
            reply = None
            if isinstance(action, Send):
                reply = answers.pop(0)
            elif isinstance(action, Sleep):
                clock.now += action.seconds
            elif isinstance(action, AwaitDelivery):
                reply = answers.pop(0)
                if reply is None:
                    clock.now += action.timeout
    except StopIteration as stop:
        return actions, stop.value


POST = HttpRequest("POST", "https://api/v1/flux-2-flex", idempotent=False, json={"prompt": "p"})
ACK = {"id": "t", "polling_url": "https://eu/v1/get_result?id=t"}
U = "https://eu/p?id=t"
FAST = PollSchedule(initial=0.5, backoff=2.0, max_interval=4.0, jitter=0.0)


def test_submit_429_sleeps_retry_after_then_resends() -> None:
    clock = Clock()
    actions, ack = drive(
        submit_flow(POST, env(clock), base_url="https://api"),
        [answer(429, {}, {"Retry-After": "1"}), answer(200, ACK)],
        clock,
    )
    assert [type(a).__name__ for a in actions] == ["Send", "Retrying", "Sleep", "Send"]
    assert actions[1].message == "submitting: HTTP 429 (too many requests); retrying in 1.0 s (1/3)"
    assert actions[2].seconds == 1.0
    assert ack.id == "t"


def test_each_resend_is_announced_before_its_backoff() -> None:
    clock = Clock()
    refused = HttpFailure(FailureKind.CONNECT, "[Errno 111] Connection refused")
    actions, ack = drive(
        submit_flow(POST, env(clock, retry=RetryPolicy()), base_url="https://api"),
        [refused, refused, answer(200, ACK)],
        clock,
    )
    announced = [a for a in actions if isinstance(a, Retrying)]
    assert [a.message.split(";")[0] for a in announced] == ["submitting: connection refused"] * 2
    assert [(a.attempt, a.limit) for a in announced] == [(1, 2), (2, 2)]  # the default budget
    sleeps = [a.seconds for a in actions if isinstance(a, Sleep)]
    assert [a.delay for a in announced] == sleeps
    assert ack.id == "t"


def test_submit_5xx_and_read_timeout_sent_once() -> None:
    clock = Clock()
    with pytest.raises(ServerError):
        drive(submit_flow(POST, env(clock), base_url="https://api"), [answer(500, {})], clock)
    failure = HttpFailure(FailureKind.TIMEOUT, "read timeout")
    with pytest.raises(APITimeoutError):
        drive(submit_flow(POST, env(clock), base_url="https://api"), [failure], clock)


def test_wait_polls_then_returns_ready() -> None:
    clock = Clock()
    pending = answer(200, {"id": "t", "status": "Pending", "progress": None})
    ready = answer(200, {"id": "t", "status": "Ready", "result": {"sample": "https://d/x"}})
    actions, finished = drive(
        wait_flow("t", "https://eu/p?id=t", env(clock), schedule=FAST, deadline=Deadline(0.0, 60)),
        [pending, pending, ready],
        clock,
    )
    sleeps = [a.seconds for a in actions if isinstance(a, Sleep)]
    assert sleeps == [0.5, 1.0]
    assert [a.request.url for a in actions if isinstance(a, Send)] == ["https://eu/p?id=t"] * 3
    assert [a.status for a in actions if isinstance(a, Report)] == ["Pending", "Pending", "Ready"]
    assert finished.url == "https://d/x"


def test_wait_deadline_never_overshoots() -> None:
    clock = Clock()
    pending = answer(200, {"id": "t", "status": "Pending"})
    with pytest.raises(WaitTimeoutError) as info:
        drive(
            wait_flow(
                "t", "https://eu/p?id=t", env(clock), schedule=FAST, deadline=Deadline(0.0, 5.0)
            ),
            [pending] * 50,
            clock,
        )
    assert clock.now == pytest.approx(5.0)  # the last sleep was cut to the deadline
    assert info.value.task_id == "t"


def test_webhook_delivery_in_grace_means_no_poll() -> None:
    clock = Clock()
    payload = {"id": "t", "status": "Ready", "result": {"sample": "https://d/w"}}
    actions, finished = drive(
        wait_flow(
            "t",
            U,
            env(clock),
            schedule=FAST,
            deadline=Deadline(0.0, 60),
            webhook=True,
            webhook_grace=3,
        ),
        [payload],
        clock,
    )
    assert actions == [AwaitDelivery("t", 3)]
    assert finished.url == "https://d/w"


def test_lost_webhook_polls_and_waits_on_delivery_between_polls() -> None:
    clock = Clock()
    pending = answer(200, {"id": "t", "status": "Pending"})
    payload = {"id": "t", "status": "Ready", "result": {"sample": "https://d/w"}}
    actions, finished = drive(
        wait_flow(
            "t",
            U,
            env(clock),
            schedule=FAST,
            deadline=Deadline(0.0, 60),
            webhook=True,
            webhook_grace=3,
        ),
        [None, pending, payload],
        clock,
    )
    kinds = [type(a).__name__ for a in actions]
    assert kinds == ["AwaitDelivery", "Send", "Report", "AwaitDelivery"]
    assert finished.url == "https://d/w"


def test_failing_polls_at_the_deadline_become_wait_timeout() -> None:
    clock = Clock()
    flow = wait_flow("t", U, env(clock), schedule=FAST, deadline=Deadline(0.0, 0.3))
    with pytest.raises(WaitTimeoutError) as info:
        drive(flow, [answer(503, {}), answer(503, {}), answer(503, {}), answer(503, {})], clock)
    assert isinstance(info.value.__cause__, ServerError)
    assert info.value.task_id == "t"


def test_polls_carry_the_time_left_as_timeout() -> None:
    clock = Clock()
    flow = wait_flow("t", U, env(clock), schedule=FAST, deadline=Deadline(0.0, 2.0))
    first = next(flow)
    assert isinstance(first, Send)
    assert first.request.timeout == pytest.approx(2.0)


def test_a_webhook_wait_on_a_long_task_polls_once_then_waits_past_the_predicted_finish() -> None:
    # A 20 s task with progress: the grace poll at 3 s predicts the finish at 20 s, so the
    # flow waits on the delivery until 23 s (20 + grace) instead of polling every few seconds.
    clock = Clock()
    at_grace = answer(200, {"id": "t", "status": "Pending", "progress": 0.15})
    payload = {"id": "t", "status": "Ready", "result": {"sample": "https://d/w"}}
    actions, finished = drive(
        wait_flow(
            "t",
            U,
            env(clock),
            schedule=FAST,
            deadline=Deadline(0.0, 120),
            webhook=True,
            webhook_grace=3,
            submitted_at=0.0,
        ),
        [None, at_grace, payload],
        clock,
    )
    assert [type(a).__name__ for a in actions] == [
        "AwaitDelivery",
        "Send",
        "Report",
        "AwaitDelivery",
    ]
    assert actions[-1].timeout == pytest.approx(20.0 + 3 - 3)  # from 3 s until 23 s
    assert finished.url == "https://d/w"


def test_a_webhook_wait_without_progress_spaces_polls_by_the_grace() -> None:
    clock = Clock()
    pending = answer(200, {"id": "t", "status": "Pending", "progress": None})
    flow = wait_flow(
        "t", U, env(clock), schedule=FAST, deadline=Deadline(0.0, 60), webhook=True, webhook_grace=3
    )
    assert next(flow) == AwaitDelivery("t", 3)
    gaps = []
    reply: Any = None  # no delivery: the grace passes
    clock.now += 3
    for _ in range(4):
        assert isinstance(flow.send(reply), Send)
        assert isinstance(flow.send(pending), Report)
        waiting = flow.send(None)
        assert isinstance(waiting, AwaitDelivery)
        gaps.append(waiting.timeout)
        clock.now += waiting.timeout
        reply = None
    # FAST alone would poll every 1 s (a fresh process, no progress); the webhook keeps
    # polls >= grace apart.
    assert gaps == [3, 3, 3, 3]


def test_the_first_poll_waits_initial_after_the_submission() -> None:
    clock = Clock()
    clock.now = 10.0
    ready = answer(200, {"id": "t", "status": "Ready", "result": {"sample": "https://d/x"}})
    actions, _ = drive(
        wait_flow("t", U, env(clock), schedule=FAST, deadline=Deadline(0.0, 60), submitted_at=9.9),
        [ready],
        clock,
    )
    assert [type(a).__name__ for a in actions] == ["Sleep", "Send", "Report"]
    assert actions[0].seconds == pytest.approx(0.4)  # until 9.9 + initial (0.5)


def test_a_resumed_wait_polls_at_once() -> None:
    clock = Clock()
    ready = answer(200, {"id": "t", "status": "Ready", "result": {"sample": "https://d/x"}})
    actions, _ = drive(
        wait_flow("t", U, env(clock), schedule=FAST, deadline=Deadline(0.0, 60)), [ready], clock
    )
    assert isinstance(actions[0], Send)


def test_a_backoff_that_would_overrun_the_deadline_is_shortened() -> None:
    # 8 s backoffs, 3 s left: the resends come sooner, within the time left.
    clock = Clock()
    slow = env(clock, retry=RetryPolicy(max_retries=50, backoff_initial=8, backoff_max=8))
    flow = wait_flow("t", U, slow, schedule=FAST, deadline=Deadline(0.0, 3.0))
    busy = answer(503, {})
    with pytest.raises(WaitTimeoutError) as info:
        drive(flow, [busy] * 50, clock)
    assert isinstance(info.value.__cause__, ServerError)
    assert clock.now <= 3.0
    assert clock.now >= 2.9  # the time left was used, not given up at the first 503


def test_each_attempt_is_bounded_by_the_time_left() -> None:
    clock = Clock()
    flow = wait_flow("t", U, env(clock), schedule=FAST, deadline=Deadline(0.0, 2.0))
    first = next(flow)
    assert isinstance(first, Send)
    clock.now += 1.5  # the first poll took 1.5 s and failed
    announced = flow.send(HttpFailure(FailureKind.NETWORK, "reset"))
    assert isinstance(announced, Retrying)
    assert announced.reason == "the connection broke"
    second_sleep = flow.send(None)
    assert isinstance(second_sleep, Sleep)
    clock.now += second_sleep.seconds
    second = flow.send(None)
    assert isinstance(second, Send)
    assert second.request.timeout == pytest.approx(2.0 - clock.now)


def test_a_retry_after_beyond_the_deadline_raises_at_once() -> None:
    clock = Clock()
    limited = answer(429, {"detail": "slow down"}, {"Retry-After": "30"})
    patient = env(clock, retry=RetryPolicy(retry_after_max=60))
    with pytest.raises(RateLimitError) as info:
        drive(
            wait_flow("t", U, patient, schedule=FAST, deadline=Deadline(0.0, 10)), [limited], clock
        )
    assert clock.now == 0  # no sleep at all
    assert info.value.retry_after == 30
    assert info.value.task_id == "t"
    with pytest.raises(RateLimitError):
        drive(
            submit_flow(POST, patient, base_url="https://api", deadline=Deadline(0.0, 10)),
            [limited],
            clock,
        )


def test_the_wait_timeout_names_the_last_status() -> None:
    clock = Clock()
    generating = answer(200, {"id": "t", "status": "Generating"})
    with pytest.raises(WaitTimeoutError) as info:
        drive(
            wait_flow("t", U, env(clock), schedule=FAST, deadline=Deadline(0.0, 2)),
            [generating] * 20,
            clock,
        )
    assert info.value.last_status == "Generating"
    assert "last status: Generating" in str(info.value)


def test_a_request_to_an_untrusted_host_is_never_yielded() -> None:
    flow = wait_flow(
        "t", "https://evil.example/p?id=t", env(Clock()), schedule=FAST, deadline=Deadline(0.0, 5)
    )
    with pytest.raises(UntrustedHostError) as info:
        next(flow)
    assert info.value.host == "evil.example"
    assert info.value.task_id == "t"


def test_non_finite_progress_is_no_progress() -> None:
    clock = Clock()
    polls = [
        answer(200, {"id": "t", "status": "Pending", "progress": value})
        for value in (float("nan"), float("inf"), -5, 40)
    ] + [answer(200, {"id": "t", "status": "Ready", "result": {"sample": "https://d/x"}})]
    actions, _ = drive(
        wait_flow("t", U, env(clock), schedule=FAST, deadline=Deadline(0.0, 60)), polls, clock
    )
    assert [a.progress for a in actions if isinstance(a, Report)] == [None, None, None, 0.4, None]


def download(clock: Clock, answers: list[Any], **options: Any) -> Any:
    settings: dict[str, Any] = {"task_id": "t", "download_dir": None, "timeout": 10}
    flow = download_flow("https://d/x.png", env(clock), max_bytes=1000, **{**settings, **options})
    return drive(flow, answers, clock)


def test_a_download_is_one_bounded_transfer_without_the_key() -> None:
    clock = Clock()
    png = HttpResponse(200, {}, b"\x89PNG\r\n\x1a\n", head=b"\x89PNG\r\n\x1a\n")
    timeout = HttpFailure(FailureKind.TIMEOUT, "ReadTimeout")
    actions, response = download(clock, [timeout, png])
    sends = [a.request for a in actions if isinstance(a, Send)]
    assert response is png
    assert [s.authenticated for s in sends] == [False, False]
    assert all(s.download and s.max_bytes == 1000 for s in sends)
    assert sends[0].timeout == 10
    assert sends[1].timeout is not None
    assert sends[1].timeout < 10  # what is left of the bound


@pytest.mark.parametrize(
    ("answer_", "words"),
    [
        (RefusedBody(200, {"content-type": "text/html"}, "not_image", 20), "'text/html'"),
        (RefusedBody(200, {}, "too_large", 5000, 1000, announced=True), "announced 5000"),
        (HttpFailure(FailureKind.PROTOCOL, "TooManyRedirects"), "Retrying will not help"),
        (HttpResponse(403, {}, b"denied"), "generate the image again"),
        (HttpResponse(410, {}, b"gone"), "the sample is gone"),
        (RefusedBody(403, {}, "too_large", 10**9, 1000, announced=True), "expired"),
    ],
)
def test_download_failures_say_what_is_true_at_once(answer_: Any, words: str) -> None:
    clock = Clock()
    with pytest.raises(DownloadError) as info:
        download(clock, [answer_])
    assert words in str(info.value)
    assert info.value.task_id == "t"
    assert clock.now == 0  # not resent


def test_a_failing_download_is_resent_until_its_bound_then_says_so() -> None:
    clock = Clock()
    failures = [HttpFailure(FailureKind.TIMEOUT, "ReadTimeout")] * 10
    patient = RetryPolicy(max_retries=50, backoff_initial=4, backoff_max=4)
    flow = download_flow(
        "https://d/x.png", env(clock, retry=patient), task_id="t", download_dir=None,
        timeout=10, max_bytes=1000,
    )  # fmt: skip
    with pytest.raises(DownloadError) as info:
        drive(flow, failures, clock)
    assert "did not finish within download_timeout (10 s)" in str(info.value)
    assert clock.now <= 10
