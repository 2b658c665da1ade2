"""The hostile toolkit does what it says, checked with plain httpx (no flux-flex involved)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.hostile import POLL, SUBMIT, HostileServer, handlers, png


def test_the_api_creates_counts_and_finishes_tasks() -> None:
    with HostileServer() as server:
        api = server.api(key="k", task_seconds=0.2)
        with httpx.Client(base_url=server.url) as http:
            assert http.post(SUBMIT, json={"prompt": "p"}).status_code == 401
            ack = http.post(SUBMIT, json={"prompt": "p"}, headers={"x-key": "k"}).json()
            first = http.get(ack["polling_url"], headers={"x-key": "k"}).json()
            time.sleep(0.25)
            ready = http.get(ack["polling_url"], headers={"x-key": "k"}).json()
            image = http.get(ready["result"]["sample"]).content
    assert first["status"] == "Pending"
    assert 0 <= first["progress"] < 1
    assert ready["status"] == "Ready"
    assert image.startswith(b"\x89PNG")
    assert server.created_tasks == [ack["id"]] == list(api.tasks)
    assert server.count("POST", SUBMIT) == 2
    assert server.count("GET", POLL) == 2
    assert [r.carried_key for r in server.requests] == [False, True, True, True, False]


def test_png_is_a_real_image() -> None:
    image = pytest.importorskip("PIL.Image")
    import io

    with image.open(io.BytesIO(png(5, 3))) as opened:
        assert opened.size == (5, 3)
        opened.load()


def test_drip_headers_is_slow_and_complete() -> None:
    with HostileServer() as server:
        server.route("GET", "/slow", handlers.drip_headers(200, b"{}", rate=400))
        started = time.monotonic()
        response = httpx.get(f"{server.url}/slow")
        elapsed = time.monotonic() - started
    assert response.json() == {}
    assert elapsed > 0.1  # ~80 bytes at 400 bytes/s: not sent at once


def test_stall_then_reset_and_redirect_loop_break_a_plain_client() -> None:
    with HostileServer() as server:
        server.route("GET", "/stall", handlers.stall(5))
        server.route("GET", "/reset", handlers.reset())
        server.route("GET", "/loop", handlers.redirect_loop())
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{server.url}/stall", timeout=0.2)
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(f"{server.url}/reset")
        with pytest.raises(httpx.TooManyRedirects):
            httpx.get(f"{server.url}/loop?x=1", follow_redirects=True)
        assert server.count("GET", "/loop") == 21  # the first request and 20 redirects
        assert all(r.query == {"x": "1"} for r in server.requests_to("GET", "/loop"))


@pytest.mark.parametrize("declare_length", [True, False])
def test_huge_is_made_on_the_fly_and_stops_when_the_client_leaves(declare_length: bool) -> None:
    size = 2 * 1024**3
    with HostileServer() as server:
        server.route(
            "GET", "/big", handlers.huge(size, head=b"HEAD", declare_length=declare_length)
        )
        with httpx.stream("GET", f"{server.url}/big") as response:
            if declare_length:
                assert response.headers["content-length"] == str(size)
            chunks = response.iter_raw()
            assert next(chunks).startswith(b"HEAD")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and server.bytes_sent("/big") < 1:
            time.sleep(0.01)
    assert 0 < server.bytes_sent("/big") < size // 100


def test_sequence_and_poll_answers_answer_in_turn() -> None:
    with HostileServer() as server:
        server.route("GET", POLL, handlers.poll_answers('{"progress": NaN}', {"n": 2}))
        with httpx.Client() as http:
            texts = [http.get(f"{server.url}{POLL}").text for _ in range(3)]
    assert texts == ['{"progress": NaN}', '{"n": 2}', '{"n": 2}']


def test_unrouted_paths_are_404_and_close_cuts_stalled_handlers() -> None:
    server = HostileServer().start()
    server.route("GET", "/stall", handlers.stall(60))
    assert httpx.get(f"{server.url}/nothing").status_code == 404
    with httpx.Client(timeout=10) as http:
        import threading

        failures: list[BaseException] = []

        def call() -> None:
            try:
                http.get(f"{server.url}/stall")
            except httpx.HTTPError as exc:
                failures.append(exc)

        worker = threading.Thread(target=call)
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        server.close()
        worker.join(5)
    assert time.monotonic() - started < 3
    assert failures  # the stalled request was cut, not answered
