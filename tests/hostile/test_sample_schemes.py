"""A sample URL that is not http(s) — ``file:``, ``javascript:``, ``data:``, ``ftp:`` — is a
`DownloadError` naming the scheme at once: nothing is retried, nothing is fetched, nothing
is read from the local disk or saved."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flux_flex import DownloadError, RetryPolicy

from tests.clients import Flavour
from tests.hostile import POLL, HostileServer
from tests.hostile.conftest import FAST_SCHEDULE, KEY
from tests.hostile.server import Exchange

SAMPLES = {
    "file": "file:///etc/passwd",
    "javascript": "javascript:alert(1)",
    "data": "data:image/png;base64,iVBORw0KGgo=",
    "ftp": "ftp://files.example/fox.png",
}


@pytest.mark.parametrize("scheme", list(SAMPLES))
def test_a_sample_that_is_not_http_fails_at_once(
    scheme: str, flavour: Flavour, server: HostileServer, tmp_path: Path
) -> None:
    server.api(key=KEY)
    secret_file = tmp_path / "secret.png"
    secret_file.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # a file: URL must not reach it
    sample = SAMPLES[scheme] if scheme != "file" else secret_file.as_uri()

    def ready(exchange: Exchange) -> None:
        task_id = exchange.query.get("id", "")
        result = {"sample": sample, "prompt": "a fox", "seed": 1}
        exchange.respond_json({"id": task_id, "status": "Ready", "result": result})

    server.route("GET", POLL, ready)
    # the default retry budget: today's retries of a hopeless URL took seconds
    client = flavour.client(
        api_key=KEY, base_url=server.url, poll_schedule=FAST_SCHEDULE, retry=RetryPolicy()
    )
    started = time.monotonic()
    with client, pytest.raises(DownloadError) as caught:
        client.generate("a fox", save_to=tmp_path / "fox.png")
    elapsed = time.monotonic() - started
    assert f"scheme '{scheme}'" in str(caught.value)
    assert caught.value.task_id == "task-1"
    assert server.count("GET", POLL) == 1
    assert server.count("GET", "/samples/*") == 0
    assert elapsed < 4.0  # generous: no retry, no backoff at all (it was 5-7 s)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.png"]


def test_a_result_with_such_a_sample_refuses_read_and_save(
    server: HostileServer, tmp_path: Path
) -> None:
    from flux_flex import FluxFlex, Result

    client = FluxFlex(api_key=KEY, base_url=server.url)
    result = Result("t-1", "javascript:alert(1)", client=client)
    with client:
        for attempt in (result.read, lambda: result.save(tmp_path / "x.png")):
            with pytest.raises(DownloadError, match="scheme 'javascript'"):
                attempt()
    assert server.requests == []
