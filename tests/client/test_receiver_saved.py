"""A ``generate`` kept in a journal skips its own download when a webhook receiver saved
the task's image first (both clients, through the one journaled flow)."""

from __future__ import annotations

from pathlib import Path

from flux_flex import Journal
from flux_flex._core import journal as rules
from flux_flex._core.journal import State

from tests.clients import Flavour
from tests.hostile import Exchange, HostileServer
from tests.hostile.images import png

from .conftest import FAST_RETRY, FAST_SCHEDULE

KEY = "hostile-test-key-0123"


def test_an_image_a_receiver_saved_is_not_downloaded_again(
    flavour: Flavour, tmp_path: Path
) -> None:
    target = str(tmp_path / "tasks.sqlite")
    elsewhere = tmp_path / "receiver" / "fox.png"
    elsewhere.parent.mkdir()
    with HostileServer() as server:
        api = server.api(key=KEY)

        def poll_after_a_receiver_saved_it(exchange: Exchange) -> None:
            task_id = exchange.query["id"]
            with Journal(target) as journal:  # a receiver, in its own process
                receiver = journal.open_run()
                got = journal.deliver(task_id, rules.Ready("https://cdn/x.png"), owner=receiver)
                if got.download:
                    elsewhere.write_bytes(png(2, 2))
                    saved = rules.Saved(str(elsewhere), "https://cdn/x.png")
                    assert journal.record(got.name, got.attempt, saved, owner=receiver)
            api.poll(exchange)

        server.route("GET", "/v1/get_result", poll_after_a_receiver_saved_it)
        client = flavour.client(
            api_key=KEY,
            base_url=server.url,
            journal=target,
            poll_schedule=FAST_SCHEDULE,
            retry=FAST_RETRY,
        )
        result = client.generate(
            "a fox", save_to=tmp_path / "worker" / "fox.png", idempotency_key="k1", timeout=30
        )
        assert server.count("GET", "/samples/*") == 0  # the receiver's file is the image
    assert result.path == str(elsewhere)
    assert not (tmp_path / "worker" / "fox.png").exists()
    with Journal(target) as journal:
        entry = journal.entry("key:k1")
        assert entry is not None
        assert (entry.state, entry.path) == (State.SAVED, str(elsewhere))


def test_an_image_a_receiver_gave_up_on_is_downloaded_and_recorded(
    flavour: Flavour, tmp_path: Path
) -> None:
    target = str(tmp_path / "tasks.sqlite")
    with HostileServer() as server:
        api = server.api(key=KEY)

        def poll_after_a_receiver_gave_up(exchange: Exchange) -> None:
            with Journal(target) as journal:
                receiver = journal.open_run()
                got = journal.deliver(exchange.query["id"], rules.Ready("u"), owner=receiver)
                if got.download:  # its download failed: the task is left to others
                    stopped = rules.Stopped("disk full", "OSError")
                    assert journal.record(got.name, got.attempt, stopped, owner=receiver)
            api.poll(exchange)

        server.route("GET", "/v1/get_result", poll_after_a_receiver_gave_up)
        client = flavour.client(
            api_key=KEY,
            base_url=server.url,
            journal=target,
            poll_schedule=FAST_SCHEDULE,
            retry=FAST_RETRY,
        )
        result = client.generate(
            "a fox", save_to=tmp_path / "worker" / "fox.png", idempotency_key="k2", timeout=30
        )
        assert server.count("GET", "/samples/*") == 1
    assert result.path == str(tmp_path / "worker" / "fox.png")
    with Journal(target) as journal:
        entry = journal.entry("key:k2")
        assert entry is not None
        assert (entry.state, entry.path) == (State.SAVED, result.path)
