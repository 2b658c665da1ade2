"""The fake API delivers each webhook three times to two receivers sharing one journal while
a journaled ``generate`` waits on it: one event handled, one image downloaded (by a
receiver; the caller uses that file), one task paid."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

from flux_flex import FluxFlex, Journal
from flux_flex._core.journal import State
from flux_flex.testing import FakeBFL
from flux_flex.webhooks import ReceiverServer, WebhookReceiver

SECRET = "fake-webhook-secret-0123"


def test_deliveries_to_two_receivers_end_in_one_saved_image(target: str, tmp_path: Path) -> None:
    handled: list[str] = []
    receivers = [
        WebhookReceiver(
            SECRET, on_event=lambda e: handled.append(e.id), journal=target, out_dir=tmp_path / d
        )
        for d in ("r1", "r2")
    ]
    with (
        FakeBFL(task_seconds=0.3, duplicate_webhooks=2) as fake,
        ReceiverServer(receivers[0]) as first,
        ReceiverServer(receivers[1]) as second,
        FluxFlex(api_key=fake.api_key, base_url=fake.base_url, journal=target) as client,
    ):
        results = [
            client.generate(
                f"a fox {n}",
                save_to=tmp_path / "worker" / f"fox{n}.png",
                idempotency_key=f"k{n}",
                webhook_url=server.url,
                webhook_secret=SECRET,
                webhook=receivers[1 - n],  # the other receiver: it learns from the journal
                timeout=60,
            )
            for n, server in enumerate((first, second))
        ]
        deadline = time.monotonic() + 30
        while len(fake.deliveries) < 6 and time.monotonic() < deadline:  # 3 copies each
            time.sleep(0.05)
        downloads = len(fake.downloads)
    assert fake.count("POST", "/v1/flux-2-flex") == 2
    assert sorted(handled) == sorted(r.id for r in results)  # each final event once
    assert downloads == 2  # each image once: by a receiver; the caller uses its file
    assert {Path(r.path or "").parent.name for r in results} <= {"r1", "r2"}
    with Journal(target) as journal:
        for n, result in enumerate(results):
            entry = journal.entry(f"key:k{n}")
            assert entry is not None
            assert (entry.state, entry.path) == (State.SAVED, result.path)
            assert result.path is not None
            assert Path(result.path).is_file()
