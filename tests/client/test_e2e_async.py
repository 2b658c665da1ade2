"""The async client end to end against FakeBFL: the snippet, generate_many, faults."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
from flux_flex import (
    AsyncFluxFlex,
    AsyncResult,
    ModerationError,
    ServerError,
    TaskFailedError,
)
from flux_flex.testing import FakeBFL
from PIL import Image

from .conftest import FAST_RETRY, FAST_SCHEDULE

pytestmark = pytest.mark.anyio
SUBMIT = "/v1/flux-2-flex"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=0.05, api_key="test-key") as server:
        yield server


async def test_issue_snippet_runs_as_written_async(
    fake: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.reset()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BFL_API_KEY", fake.api_key)
    monkeypatch.setenv("BFL_BASE_URL", fake.base_url)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="PNG")
    (tmp_path / "cat.png").write_bytes(buffer.getvalue())
    url = "https://images.example/cat.png"
    callback: list[Any] = []

    async with AsyncFluxFlex() as client:
        job = await client.submit(
            "a red fox in snow",
            width=1024,
            height=768,
            seed=42,
            steps=30,
            guidance=4.5,
            output_format="png",
            input_images=["cat.png", url],
        )
        assert job.id
        assert job.polling_url
        assert job.cost is not None
        assert job.input_mp is not None
        assert job.output_mp is not None
        result = await job.wait(timeout=300, on_progress=callback.append)
        assert (result.seed, result.prompt) == (42, "a red fox in snow")
        assert result.url
        path = await result.save("fox.png")
        assert Image.open(path).format == "PNG"
        result = await client.generate("a red fox", save_to="fox.png")
        assert result.path == "fox.png"  # the extension chose the format
        job = client.job(job.id)
        snapshot = await client.get_result(job.id)
        assert snapshot.status == "Ready"
    assert callback
    assert not any(r.carried_key for r in fake.downloads)


async def test_generate_many_100_with_failures(fake: FakeBFL, tmp_path: Path) -> None:
    fake.reset()
    requests: list[str | dict[str, Any]] = []
    for i in range(100):
        if i % 10 == 3:
            requests.append(f"fox {i} [fail]")
        elif i % 25 == 7:
            requests.append({"prompt": f"fox {i} [moderate-content]", "seed": i})
        elif i % 20 == 0:
            requests.append({"prompt": f"fox {i}", "save_to": tmp_path / f"img{i}.png"})
        else:
            requests.append({"prompt": f"fox {i}", "seed": i})
    seen: list[int] = []
    async with AsyncFluxFlex(
        api_key=fake.api_key, base_url=fake.base_url, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY
    ) as client:
        outcomes = await client.generate_many(
            requests, concurrency=24, on_result=lambda index, outcome: seen.append(index)
        )

    assert len(outcomes) == 100
    assert sorted(seen) == list(range(100))
    for i, outcome in enumerate(outcomes):
        if i % 10 == 3:
            assert isinstance(outcome, TaskFailedError), (i, outcome)
        elif i % 25 == 7:
            assert isinstance(outcome, ModerationError), (i, outcome)
        else:
            assert isinstance(outcome, AsyncResult), (i, outcome)
            assert outcome.prompt == f"fox {i}"  # in order
    saved = [o.path for o in outcomes if isinstance(o, AsyncResult) and o.path]
    assert len(saved) == 5
    assert all(Path(p).stat().st_size > 0 for p in saved)  # noqa: ASYNC240

    # Never more than 24 in flight: the fake refused nothing, and the task intervals agree.
    assert fake.rate_limited == 0
    events = sorted(
        [(t.created_at, 1) for t in fake.tasks.values()]
        + [(t.ready_at, -1) for t in fake.tasks.values()]
    )
    peak = running = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert len(fake.tasks) == 100
    assert 1 < peak <= 24
    # One pool of connections, reused (not one per request).
    assert fake.connections < 50  # ~400 requests over a pool of 32: reused, not one each


async def test_generate_many_one_failure_never_cancels_others(fake: FakeBFL) -> None:
    fake.reset()
    fake.fail_next("POST", SUBMIT, status=500)  # not resent: that item fails alone
    async with AsyncFluxFlex(
        api_key=fake.api_key, base_url=fake.base_url, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY
    ) as client:
        outcomes = await client.generate_many(["a", "b", "c", "d [fail]"], concurrency=1)
    assert isinstance(outcomes[0], ServerError)
    assert [o.prompt for o in outcomes[1:3] if isinstance(o, AsyncResult)] == ["b", "c"]
    assert type(outcomes[3]).__name__ == "TaskFailedError"
    # (an invalid request refuses the whole batch before anything is sent: tests/batch/)


async def test_429s_are_retried_not_surfaced(fake: FakeBFL) -> None:
    with FakeBFL(task_seconds=0.1, max_in_flight=2, retry_after=0.05) as small:
        async with AsyncFluxFlex(
            api_key=small.api_key,
            base_url=small.base_url,
            poll_schedule=FAST_SCHEDULE,
            max_retries=20,
        ) as client:
            outcomes = await client.generate_many([f"p{i}" for i in range(6)], concurrency=6)
        assert all(isinstance(o, AsyncResult) for o in outcomes), outcomes
        assert small.rate_limited > 0
