"""The learned timings kept between processes: where the file goes, what it holds (numbers and
the spec's status names, never a key or a URL), and that a bad file or folder never fails a
call. (That a new client starts warm from it: tests/client/test_learning.py.)"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flux_flex import FluxFlex, PollSchedule
from flux_flex._core.schedule import (
    SUBMITTED,
    TaskTimings,
    TimingRecord,
    records_from_json,
    records_to_json,
)
from flux_flex._timings_cache import cache_dir, cache_path, load
from flux_flex.testing import FakeBFL

KEY = "timings-cache-key-0123456789"
FAST = PollSchedule(initial=0.01, max_interval=0.05, min_interval=0.005, dense_interval=0.02)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=0.05, api_key=KEY) as server:
        yield server


def _generate(fake: FakeBFL) -> None:
    with FluxFlex(api_key=KEY, base_url=fake.base_url, poll_schedule=FAST) as client:
        client.generate("a fox")


def test_a_wait_keeps_its_timings_in_the_cache_folder_without_secrets(
    fake: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_FLEX_CACHE_DIR", str(tmp_path / "cache"))
    _generate(fake)
    _generate(fake)
    (kept,) = (tmp_path / "cache").iterdir()
    assert kept == cache_path(fake.base_url)
    text = kept.read_text()
    assert KEY not in text
    assert KEY[:8] not in text
    assert fake.base_url not in text
    assert "127.0.0.1" not in text
    data = json.loads(text)
    assert len(data["records"]) == 2
    restored = TaskTimings()
    load(restored, fake.base_url)
    assert len(restored) == 2
    assert all(SUBMITTED in r.began for r in restored.records())


def test_a_corrupt_file_is_ignored_then_replaced(
    fake: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_FLEX_CACHE_DIR", str(tmp_path))
    path = cache_path(fake.base_url)
    for corrupt in ("{not json", '{"format": 99, "records": []}', "[1, 2]", "\x00" * 10):
        path.write_text(corrupt)
        timings = TaskTimings()
        load(timings, fake.base_url)
        assert len(timings) == 0
    _generate(fake)
    assert len(json.loads(path.read_text())["records"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_a_folder_that_cannot_be_written_never_fails_a_call(
    fake: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FLUX_FLEX_CACHE_DIR", str(blocker / "cache"))
    _generate(fake)  # no error
    assert blocker.read_text() == "not a folder"


def test_the_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_FLEX_CACHE_DIR", str(tmp_path / "own"))
    assert cache_dir() == tmp_path / "own"
    monkeypatch.delenv("FLUX_FLEX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "flux-flex"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: absolute only
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "flux-flex"
    # One file per API host, named by a hash.
    assert cache_path("https://api.bfl.ai") != cache_path("https://api.eu.bfl.ai")
    assert "bfl" not in cache_path("https://api.bfl.ai").name


def test_the_suite_never_writes_to_the_real_cache_folder() -> None:
    assert os.environ["FLUX_FLEX_CACHE_DIR"] != str(Path.home() / ".cache" / "flux-flex")
    assert cache_dir().name.startswith("cache")  # tests/cache_env.py's folder, empty
    assert not any(cache_dir().iterdir())


RECORD = TimingRecord((9.0, 10.0), {SUBMITTED: (0.0, 0.0), "Pending": (0.0, 0.5)})


def test_records_survive_the_round_trip() -> None:
    data = json.loads(json.dumps(records_to_json([RECORD, RECORD])))
    assert records_from_json(data) == [RECORD, RECORD]
    assert records_from_json(data, limit=1) == [RECORD]


@pytest.mark.parametrize(
    "bad",
    [
        {"finished": [10.0, 9.0], "began": {}},  # upside down
        {"finished": [1.0, float("nan")], "began": {}},
        {"finished": [1.0, 1e9], "began": {}},  # longer than a day
        {"finished": [1.0, True], "began": {}},
        {"finished": [1.0], "began": {}},
        {"finished": [1.0, 2.0], "began": {"sk-secret-status": [0.0, 1.0]}},  # not the spec's
        {"finished": [1.0, 2.0], "began": {"Pending": "soon"}},
        {"finished": [1.0, 2.0], "began": []},
        "a record",
    ],
)
def test_a_malformed_record_is_left_out(bad: object) -> None:
    good = records_to_json([RECORD])["records"][0]
    data = {"format": 1, "records": [good, bad, good]}
    assert records_from_json(data) == [RECORD, RECORD]
