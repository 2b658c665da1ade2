"""The API key and webhook secrets never show: not in an error's message, repr or attributes
(``body``, ``headers``, ``raw``, ``payload``), not in the CLI's text or JSON output.

Each test that takes `client` runs for `FluxFlex` and for `AsyncFluxFlex`."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx
from click.testing import CliRunner
from flux_flex import (
    FluxFlex,
    ModerationError,
    ProtocolError,
    RequestValidationError,
    ServerError,
    TaskFailedError,
)

from .answers import EU_POLL, KEY, POLL, SUBMIT, OneDelivery, accepted

SECRET = "whsec-s3cr3t-value-xyz"


def leaks(error: BaseException, *secrets: str) -> list[str]:
    """Where in ``error`` (message, repr, args, any attribute, nested) a secret shows."""
    found = []
    texts = {"str": str(error), "repr": repr(error), "args": repr(error.args)}
    for name, value in vars(error).items():
        texts[name] = json.dumps(value, default=repr, ensure_ascii=False)
    for where, text in texts.items():
        found += [f"{where}: {s[:6]}…" for s in secrets if s in text]
    return found


def echoing(*secrets: str) -> dict[str, Any]:
    """A failed task's answer that repeats the secrets everywhere it can."""
    first = secrets[0]
    return {
        "id": "t1",
        "status": "Error",
        "error": f"invalid_api_key {first}",
        "message": f"The key {first} was rejected ({json.dumps(secrets)})",
        "details": {
            "echo": [*secrets, {"nested": f"x={quote(first, safe='')}"}],
            first: "as a key",
            "json": json.dumps({"k": first}),
        },
    }


def test_a_failed_task_echoing_the_key_does_not_leak_it(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    # The case found by hand: the key was in TaskFailedError's message and the CLI's output.
    mock.get(POLL).respond(200, json=echoing(KEY))
    with pytest.raises(TaskFailedError) as caught:
        client.wait("t1", timeout=5)
    assert leaks(caught.value, KEY) == []
    assert caught.value.task_id == "t1"
    assert "invalid_api_key ***" in str(caught.value)  # the server's words stay readable
    assert caught.value.payload["details"]["***"] == "as a key"


def test_the_webhook_secret_of_the_task_is_masked_in_its_wait(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    mock.post(SUBMIT).mock(return_value=accepted())
    mock.get(EU_POLL).respond(200, json=echoing(SECRET, KEY))
    with pytest.raises(TaskFailedError) as caught:
        client.generate("fox", webhook_url="https://me.example/hook", webhook_secret=SECRET)
    assert leaks(caught.value, KEY, SECRET) == []


def test_a_resumed_job_masks_the_secret_it_is_given(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    mock.get(EU_POLL).respond(200, json=echoing(SECRET, KEY))
    job = client.job("t1", polling_url=f"{EU_POLL}?id=t1", webhook_secret=SECRET)
    assert SECRET not in repr(job)
    with pytest.raises(TaskFailedError) as caught:
        job.wait(timeout=5)
    assert leaks(caught.value, KEY, SECRET) == []
    # The same wait without the secret: the key is still masked, the secret cannot be.
    with pytest.raises(TaskFailedError) as unknown:
        client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
    assert leaks(unknown.value, KEY) == []


def test_a_webhook_delivery_echoing_secrets_is_masked(client: FluxFlex) -> None:
    delivery = {**echoing(KEY, SECRET), "status": "Content Moderated"}
    job = client.job("t1", webhook_secret=SECRET)
    with pytest.raises(ModerationError) as caught:
        job.wait(timeout=5, webhook=OneDelivery(delivery))
    assert leaks(caught.value, KEY, SECRET) == []


def test_a_broken_answer_echoing_the_key_is_masked_in_raw(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    mock.get(EU_POLL).respond(200, content=f'{{"id": "t1", "status": "{KEY}'.encode())
    with pytest.raises(ProtocolError) as caught:
        client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
    assert leaks(caught.value, KEY) == []
    assert "***" in caught.value.raw
    route = mock.post(SUBMIT).respond(
        200, content=f'{{"id": "t9", "echo": "{KEY}", "polling_u'.encode()
    )
    with pytest.raises(ProtocolError) as cut:
        client.submit("fox")
    assert route.call_count == 1
    assert leaks(cut.value, KEY) == []
    assert (cut.value.task_id, cut.value.task_may_exist) == ("t9", True)
    assert "client.job('t9')" in str(cut.value)


def test_a_refused_webhook_url_does_not_spell_out_the_secret(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        client.submit("fox", webhook_url=f"ftp://h.example/?s={SECRET}", webhook_secret=SECRET)
    assert caught.value.fields == ["webhook_url"]
    assert leaks(caught.value, SECRET) == []
    assert mock.calls.call_count == 0


@pytest.mark.parametrize("as_json", [False, True])
def test_the_cli_never_prints_the_key_of_a_failed_task(
    mock: respx.MockRouter, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    from flux_flex.cli.app import cli

    monkeypatch.setenv("BFL_API_KEY", KEY)
    mock.post(SUBMIT).mock(return_value=accepted())
    mock.get(EU_POLL).mock(return_value=httpx.Response(200, json=echoing(KEY)))
    args = ["generate", "a fox", "-o", str(tmp_path / "fox.png"), "--timeout", "5"]
    done = CliRunner().invoke(cli, [*args, "--json"] if as_json else args)
    assert done.exit_code != 0
    output = done.stdout + done.stderr
    assert "t1" in output
    assert KEY not in output
    assert KEY[:8] not in output


def test_one_poll_of_a_job_masks_its_webhook_secret(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    mock.get(EU_POLL).respond(500, json={"detail": f"{SECRET} / {KEY}"})
    job = client.with_options(max_retries=0).job(
        "t1", polling_url=f"{EU_POLL}?id=t1", webhook_secret=SECRET
    )
    with pytest.raises(ServerError) as caught:
        job.client.get_result(job)
    assert leaks(caught.value, KEY, SECRET) == []
    assert caught.value.task_id == "t1"
