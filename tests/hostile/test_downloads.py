"""Downloads you can trust: only an image is saved, never a huge one, every failure is a
`DownloadError` with the task id and says what is true, and nothing is left on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from flux_flex import DownloadError, FluxFlex, Result, _files

from tests.clients import Flavour
from tests.hostile import (
    JPEG_HEAD,
    SAMPLES,
    WEBP_HEAD,
    Api,
    HostileServer,
    handlers,
    png,
    raw_response,
)
from tests.hostile.conftest import FAST_RETRY, FAST_SCHEDULE, KEY

SAMPLE_ROUTE = SAMPLES + "*"
GIB = 1024**3


def client(server: HostileServer, **options: Any) -> FluxFlex:
    settings: dict[str, Any] = {"poll_schedule": FAST_SCHEDULE, "retry": FAST_RETRY}
    return FluxFlex(api_key=KEY, base_url=server.url, **{**settings, **options})


def ready(server: HostileServer, **options: Any) -> tuple[FluxFlex, Result]:
    """A client and a ready result whose sample URL is on `server`."""
    c = client(server, **options)
    return c, c.generate("a fox")


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


NOT_IMAGES = {
    "html-error-page": (handlers.html(200), "text/html"),
    "json": (handlers.json_body({"error": "expired"}), "application/json"),
    "empty": (handlers.respond(200, b"", content_type="image/png"), "image/png"),
    "lying-content-type": (
        handlers.respond(200, b"GIF89a" + bytes(64), content_type="image/png"),
        "image/png",
    ),
}


@pytest.mark.parametrize("case", list(NOT_IMAGES))
def test_a_body_that_is_not_an_image_is_refused_and_nothing_is_saved(
    server: HostileServer, api: Api, tmp_path: Path, case: str
) -> None:
    # Before: an HTML error page answered with 200 was saved as fox.png.
    handler, content_type = NOT_IMAGES[case]
    server.route("GET", SAMPLE_ROUTE, handler)
    c, result = ready(server)
    with c:
        with pytest.raises(DownloadError) as saved:
            result.save(tmp_path / "fox.png")
        with pytest.raises(DownloadError) as read:
            result.read()
        with pytest.raises(DownloadError):
            c.generate("a fox", save_to=tmp_path / "again.png")
    for caught in (saved.value, read.value):
        assert content_type in str(caught)
        assert "nothing was saved" in str(caught)
        assert caught.task_id == result.id
    assert left_in(tmp_path) == []
    assert server.count("GET", SAMPLE_ROUTE) == 3  # refused at once: no resend of a lie


@pytest.mark.parametrize(
    ("head", "suffix"), [(png(1, 1), ".png"), (JPEG_HEAD, ".jpg"), (WEBP_HEAD, ".webp")]
)
def test_each_expected_format_is_saved_under_its_own_extension(
    server: HostileServer, api: Api, tmp_path: Path, head: bytes, suffix: str
) -> None:
    body = head + bytes(100)
    server.route("GET", SAMPLE_ROUTE, handlers.respond(200, body, content_type="image/x"))
    c, result = ready(server)
    with c:
        path = result.save(tmp_path / "fox")
    assert path == str(tmp_path / f"fox{suffix}")
    assert Path(path).read_bytes() == body
    assert left_in(tmp_path) == [f"fox{suffix}"]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_huge_sample_is_stopped_at_the_cap_while_streaming(
    server: HostileServer, api: Api, tmp_path: Path, declared: bool
) -> None:
    # Before: a 2 GiB sample was written whole. Here it starts like a real PNG, so only the
    # size can stop it: at once when announced, else once the cap is passed.
    cap = 1024 * 1024
    huge = handlers.huge(2 * GIB, head=png(1, 1), declare_length=declared)
    server.route("GET", SAMPLE_ROUTE, huge)
    c, result = ready(server, max_download_bytes=cap)
    with c:
        started = time.monotonic()
        with pytest.raises(DownloadError) as saved:
            result.save(tmp_path / "fox.png")
        with pytest.raises(DownloadError) as read:
            result.read()
        elapsed = time.monotonic() - started
    for caught in (saved.value, read.value):
        assert "max_download_bytes" in str(caught)
        assert caught.task_id == result.id
        announced = f"the server announced {2 * GIB} bytes" in str(caught)
        assert announced is declared  # refused before reading any of it when announced
    assert left_in(tmp_path) == []
    assert elapsed < 5
    # Stopped near the cap, not after gigabytes (socket buffers let some more through).
    assert server.bytes_sent(f"{SAMPLES}{result.id}.png") < 64 * cap


def test_the_default_cap_admits_a_4_megapixel_png(server: HostileServer, api: Api) -> None:
    # 2048 x 2048 RGBA stored uncompressed is ~16 MiB: the worst a 4 MP PNG can be.
    worst = 2048 * 2048 * 4 + 2048 + 1024
    server.route("GET", SAMPLE_ROUTE, handlers.huge(worst, head=png(1, 1)))
    c, result = ready(server)
    with c:
        assert len(result.read()) == worst


def test_a_redirect_loop_is_a_download_error_with_the_task_id(
    server: HostileServer, api: Api, tmp_path: Path
) -> None:
    # Before: a raw httpx.TooManyRedirects.
    server.route("GET", SAMPLE_ROUTE, handlers.redirect_loop())
    c, result = ready(server)
    with c, pytest.raises(DownloadError) as caught:
        result.save(tmp_path / "fox.png")
    assert caught.value.task_id == result.id
    assert "redirect" in str(caught.value).lower()
    assert "Retrying will not help" in str(caught.value)
    assert server.count("GET", SAMPLE_ROUTE) == 21  # one loop followed, not resent
    assert left_in(tmp_path) == []


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_signed_url_says_generate_again_not_retry_soon(
    server: HostileServer, api: Api, tmp_path: Path, status: int
) -> None:
    server.route("GET", SAMPLE_ROUTE, handlers.html(status))
    c, result = ready(server)
    with c, pytest.raises(DownloadError) as caught:
        result.save(tmp_path / "fox.png")
    message = str(caught.value)
    assert "generate the image again" in message
    assert "expired" in message
    assert "soon" not in message
    assert caught.value.status_code == status
    assert server.count("GET", SAMPLE_ROUTE) == 1


def test_a_failing_delivery_host_says_retry_soon_after_its_retries(
    server: HostileServer, api: Api, tmp_path: Path
) -> None:
    server.route("GET", SAMPLE_ROUTE, handlers.html(503))
    c, result = ready(server)
    with c, pytest.raises(DownloadError) as caught:
        result.save(tmp_path / "fox.png")
    assert "still failing after retries" in str(caught.value)
    assert "again soon" in str(caught.value)
    assert caught.value.status_code == 503
    assert server.count("GET", SAMPLE_ROUTE) == FAST_RETRY.max_retries + 1


def test_a_connection_reset_mid_body_is_resent_then_leaves_nothing(
    server: HostileServer, api: Api, tmp_path: Path
) -> None:
    whole = raw_response(200, png(8, 8), content_type="image/png")
    cut = handlers.reset_after(whole, len(whole) - 10)
    server.route("GET", SAMPLE_ROUTE, handlers.sequence(cut, api.download))
    c, result = ready(server)
    with c:
        assert Path(result.save(tmp_path / "fox.png")).read_bytes() == png(8, 8)
        server.route("GET", SAMPLE_ROUTE, cut)
        with pytest.raises(DownloadError) as caught:
            result.save(tmp_path / "again.png")
    assert caught.value.task_id == result.id
    assert left_in(tmp_path) == ["fox.png"]


def test_both_clients_check_downloads_the_same_way(
    server: HostileServer, api: Api, tmp_path: Path, flavour: Flavour
) -> None:
    # The async client streams to disk with a driver of its own (the `flavour` fixture of
    # tests/conftest.py runs this for both).
    settings: dict[str, Any] = {"poll_schedule": FAST_SCHEDULE, "retry": FAST_RETRY}
    c = flavour.client(api_key=KEY, base_url=server.url, max_download_bytes=1024 * 1024, **settings)
    with c:
        result = c.generate("a fox")
        for attack, words in [
            (handlers.html(200), "text/html"),
            (handlers.redirect_loop(), "redirect"),
            (handlers.huge(2 * GIB, head=png(1, 1), declare_length=False), "max_download_bytes"),
        ]:
            server.route("GET", SAMPLE_ROUTE, attack)
            with pytest.raises(DownloadError) as caught:
                result.save(tmp_path / "fox.png")
            assert words in str(caught.value)
            assert caught.value.task_id == result.id
    assert left_in(tmp_path) == []


def _part(folder: Path, name: str, *, age: float = 0.0) -> Path:
    path = folder / name
    path.write_bytes(b"partial")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_stale_part_files_are_removed_by_the_next_save_and_only_those(
    server: HostileServer, api: Api, tmp_path: Path
) -> None:
    now = int(time.time())
    expired = _part(tmp_path, f".flux-flex-{now - 3600}-abc.part")
    legacy = _part(tmp_path, ".flux-flex-x7q2.part", age=3600)  # no expiry in the name
    running = _part(tmp_path, f".flux-flex-{now + 3600}-def.part")  # a save in progress
    fresh_legacy = _part(tmp_path, ".flux-flex-k9w1.part")
    not_ours = [_part(tmp_path, n, age=3600) for n in (".other.part", "flux-flex-1-a.part")]
    # Named writers, all within their bound: gone from this host (removed), alive (kept),
    # this very process (kept: another save of it may be writing), another host (kept).
    host = _files._host_tag()
    dead_pid = _a_dead_pid()
    killed = _part(tmp_path, f".flux-flex-{now + 3600}-{dead_pid}@{host}-k1.part")
    alive = _part(tmp_path, f".flux-flex-{now + 3600}-{os.getppid()}@{host}-a1.part")
    mine = _part(tmp_path, f".flux-flex-{now + 3600}-{os.getpid()}@{host}-m1.part")
    elsewhere = _part(tmp_path, f".flux-flex-{now + 3600}-{dead_pid}@00000000-e1.part")
    c, result = ready(server, download_timeout=60)
    with c:
        result.save(tmp_path / "fox.png")
    assert not expired.exists()
    assert not legacy.exists()
    assert not killed.exists()
    assert running.exists()
    assert fresh_legacy.exists()
    assert alive.exists()
    assert mine.exists()
    assert elsewhere.exists()
    assert all(p.exists() for p in not_ours)
    assert (tmp_path / "fox.png").exists()


def _a_dead_pid() -> int:
    """The id of a process that has ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_save_leaves_a_part_that_the_next_save_removes(
    server: HostileServer, api: Api, tmp_path: Path
) -> None:
    # Before: the hidden .part of a killed save() stayed forever.
    c, result = ready(server)
    server.route("GET", SAMPLE_ROUTE, handlers.drip_body(200, png(1, 1) + bytes(10_000), rate=50))
    script = textwrap.dedent(
        f"""
        from flux_flex import FluxFlex
        c = FluxFlex(api_key={KEY!r}, base_url={server.url!r}, download_timeout=30)
        c.job({result.id!r}).wait(timeout=10).save({str(tmp_path / "fox.png")!r})
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(tmp_path.glob(".flux-flex-*.part")):
            time.sleep(0.05)
        time.sleep(0.3)  # some bytes written
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    left = list(tmp_path.glob(".flux-flex-*.part"))
    assert len(left) == 1, "the killed save left no temporary file: the test proves nothing"
    assert f"-{child.pid}@" in left[0].name  # the writer is named in the file
    server.route("GET", SAMPLE_ROUTE, api.download)
    with c:
        # Well within the killed save's own bound (30 s), but its writer is gone: the next
        # save into the folder removes it at once.
        result.save(tmp_path / "now.png")
    assert left_in(tmp_path) == ["now.png"]
