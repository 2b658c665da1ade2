"""Where the image lands: missing folders are created, and an impossible `save_to` is refused
before a billed task is submitted. Each test runs for `FluxFlex` and for `AsyncFluxFlex`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from flux_flex import FluxFlex, RequestValidationError

from .answers import SAMPLE, SUBMIT, accepted, ready
from .conftest import PNG


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.post(SUBMIT).mock(return_value=accepted())
        router.get(url__startswith="https://api.eu.bfl.ai/v1/get_result").mock(return_value=ready())
        router.get(SAMPLE).respond(200, content=PNG)
        yield router


def test_generate_creates_missing_folders(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    target = tmp_path / "a" / "b" / "fox.png"
    result = client.generate("fox", save_to=target)
    assert result.path == str(target)
    assert target.read_bytes() == PNG


def test_result_save_creates_missing_folders(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    result = client.submit("fox").wait(timeout=5)
    saved = result.save(tmp_path / "new" / "fox.png")
    assert Path(saved).read_bytes() == PNG


def test_impossible_save_to_is_refused_before_submitting(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RequestValidationError) as caught:
        client.generate("fox", save_to=blocker / "sub" / "fox.png")
    assert caught.value.fields == ["save_to"]
    assert "nothing was sent" in str(caught.value)
    assert mock.calls.call_count == 0


def test_generate_many_refuses_a_batch_with_an_impossible_save_to(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RequestValidationError) as caught:
        client.generate_many(
            [
                {"prompt": "good", "save_to": tmp_path / "ok" / "x.png"},
                {"prompt": "bad", "save_to": blocker / "x.png"},
            ]
        )
    assert caught.value.fields == ["requests[1].save_to"]
    assert mock.calls.call_count == 0  # the whole batch is checked before anything is sent
