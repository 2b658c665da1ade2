"""Testing YOUR code offline with the fake API: copy this into your own test suite.

The ``fake_bfl`` fixture comes with flux-flex (a pytest plugin; needs the ``fake`` extra):
a real HTTP server on 127.0.0.1 that behaves like the API. ``FakeBFL`` is the same thing as a
context manager, for other test runners or custom settings.

    pytest examples/test_with_fake.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flux_flex import FluxFlex, ModerationError, ServerError
from flux_flex.testing import FakeBFL


def make_thumbnail(client: FluxFlex, prompt: str, folder: Path) -> Path:
    """Stand-in for your application code."""
    result = client.generate(prompt, width=256, height=256, output_format="png")
    return Path(result.save(folder / "thumb.png"))


def test_makes_a_png(fake_bfl: FakeBFL, tmp_path: Path) -> None:
    with FluxFlex(api_key=fake_bfl.api_key, base_url=fake_bfl.base_url) as client:
        path = make_thumbnail(client, "a red fox", tmp_path)
    assert path.read_bytes().startswith(b"\x89PNG")
    body = fake_bfl.requests[0].json  # what your code sent
    assert body["width"] == 256


def test_moderated_prompt_raises(fake_bfl: FakeBFL) -> None:
    # The fake ends a task whose prompt contains a marker in the matching status.
    client = FluxFlex(api_key=fake_bfl.api_key, base_url=fake_bfl.base_url)
    with client, pytest.raises(ModerationError):
        client.generate("a fox [moderate-content]")


def test_a_failed_submission_is_not_resent() -> None:
    # Fault injection: the next POST answers 503. A POST is never sent twice (it may cost).
    with FakeBFL(task_seconds=0.05) as fake:
        fake.fail_next("POST", "/v1/flux-2-flex", status=503)
        client = FluxFlex(api_key=fake.api_key, base_url=fake.base_url)
        with client, pytest.raises(ServerError):
            client.submit("a red fox")
        assert sum(r.method == "POST" for r in fake.requests) == 1
