"""The pure rules of webhook deliveries in the journal and of recovery (`_core.delivery`,
`_core.recovery`): events, payloads, file names, download turns, overdue times, commands."""

from __future__ import annotations

import shlex
from typing import Any

import attrs
import pytest
from flux_flex import ModerationError, TaskFailedError
from flux_flex._core.delivery import (
    DownloadTurn,
    delivery_event,
    download_turn,
    image_stem,
    payload_of,
)
from flux_flex._core.journal import Ended, JournalEntry, Ready, Run, State
from flux_flex._core.recovery import (
    EXPECTED_TASK_SECONDS,
    expected_seconds,
    overdue_after,
    resubmit_command,
)
from flux_flex._core.status import interpret_webhook


def entry(**changes: Any) -> JournalEntry:
    base = JournalEntry(
        fingerprint="abc",
        state=State.SUBMITTED,
        prompt="a fox",
        params={},
        save_to=None,
        task_id="t1",
        polling_url=None,
        path=None,
        url=None,
        cost=None,
        submit_cost=None,
        seed=None,
        error=None,
        error_type=None,
        retryable=None,
        attempt=1,
        owner=None,
        created_at=0.0,
        updated_at=0.0,
    )
    return attrs.evolve(base, **changes)


def test_a_delivery_becomes_its_journal_event() -> None:
    ready = {"id": "t1", "status": "Ready", "result": {"sample": "https://x/s", "seed": 4}}
    assert delivery_event(ready) == Ready("https://x/s", 4, None)
    assert delivery_event({**ready, "cost": 3}) == Ready("https://x/s", 4, 3.0)
    moderated = {"id": "t1", "status": "Content Moderated", "message": "flagged"}
    assert delivery_event(moderated) == Ended("flagged", "Content Moderated")
    assert delivery_event({"id": "t1", "status": "Error", "error": "boom", "message": "m"}) == (
        Ended("boom: m", "Error")
    )
    assert delivery_event({"id": "t1", "status": "Generating"}) is None  # not final


@pytest.mark.parametrize(
    ("payload", "raised"),
    [
        ({"status": "Error", "message": "the GPU melted"}, TaskFailedError),
        ({"status": "Request Moderated", "message": "no"}, ModerationError),
    ],
)
def test_a_recorded_failure_reads_back_as_the_same_typed_error(
    payload: dict[str, Any], raised: type[Exception]
) -> None:
    event = delivery_event({"id": "t1", **payload})
    assert isinstance(event, Ended)
    failed = entry(state=State.FAILED, error=event.error, error_type=event.error_type)
    back = payload_of(failed)
    assert back is not None
    with pytest.raises(raised):
        interpret_webhook(back, task_id="t1")


def test_an_entry_reads_back_as_the_delivery_once_final() -> None:
    assert payload_of(entry()) is None  # still running
    assert payload_of(None) is None
    ready = entry(state=State.READY, url="https://x/s", seed=4)
    finished = interpret_webhook(payload_of(ready) or {}, task_id="t1")
    assert finished is not None
    assert (finished.url, finished.seed) == ("https://x/s", 4)
    saved = payload_of(attrs.evolve(ready, state=State.SAVED, cost=5.0))
    assert saved is not None
    assert saved["cost"] == 5.0
    # A failure no delivery says (e.g. a wait's own error) is left to polling.
    assert payload_of(entry(state=State.FAILED, error_type="DownloadError")) is None


def test_images_are_named_after_the_request_never_a_path() -> None:
    assert image_stem(entry(save_to="/w/out/fox-12ab.png"), "t1") == "fox-12ab"
    assert image_stem(entry(), "t1") == "t1"
    assert image_stem(None, "t1") == "t1"
    assert image_stem(entry(save_to="/w/out/../../etc/.hidden"), "t1") == "t1"
    hostile = image_stem(None, "../../etc/passwd")
    assert hostile.startswith("task-")
    assert "/" not in hostile


def test_whose_turn_it_is_to_download() -> None:
    me, other = Run("me", "h", 1, 99.0), Run("other", "h", 2, 99.0)
    saved = entry(state=State.SAVED, path="/r/t1.png")
    assert download_turn(saved, owner="me", other_live=True) is DownloadTurn.SKIP
    ready = entry(state=State.READY, holder=other)
    assert download_turn(ready, owner="me", other_live=True) is DownloadTurn.WAIT
    assert download_turn(ready, owner="me", other_live=False) is DownloadTurn.DOWNLOAD
    mine = entry(state=State.READY, holder=me)
    assert download_turn(mine, owner="me", other_live=False) is DownloadTurn.DOWNLOAD
    assert download_turn(entry(), owner="me", other_live=True) is DownloadTurn.DOWNLOAD
    assert download_turn(None, owner="me", other_live=False) is DownloadTurn.DOWNLOAD


def test_overdue_is_twice_the_expected_time_unless_given() -> None:
    assert expected_seconds({}) == EXPECTED_TASK_SECONDS
    assert expected_seconds({"steps": 25}) == EXPECTED_TASK_SECONDS / 2
    assert expected_seconds({"width": 2048, "height": 2048}) == EXPECTED_TASK_SECONDS * 4
    assert expected_seconds({"steps": 1}) == EXPECTED_TASK_SECONDS * 0.1  # a floor
    assert overdue_after(entry(), None) == 2 * EXPECTED_TASK_SECONDS
    assert overdue_after(entry(), 7.0) == 7.0


def test_the_command_that_resends_an_uncertain_submission() -> None:
    line = entry(
        state=State.SUBMITTING,
        prompt="a fox's den",
        save_to="/w/out/den.png",
        params={"width": 512, "prompt_upsampling": False, "input_images": ["ref.png"]},
    )
    command = resubmit_command(line, "postgresql://flux:***@db/flux")
    assert shlex.split(command) == [
        "flux-flex",
        "generate",
        "a fox's den",
        "-o",
        "/w/out/den.png",
        "--width",
        "512",
        "--no-upsampling",
        "--input-image",
        "ref.png",
        "--journal",
        "postgresql://flux:***@db/flux",
        "--resubmit-uncertain",
    ]
    keyed = resubmit_command(attrs.evolve(line, fingerprint="key:order-7"), "j.sqlite")
    assert "idempotency_key='order-7'" in keyed
    assert "resubmit_uncertain=True" in keyed
