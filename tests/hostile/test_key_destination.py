"""The API key goes only where it belongs: a polling_url on another host is refused before
anything is sent there, never a silent send (with or without the key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flux_flex import ConfigurationError, FluxFlex, UntrustedHostError

from tests.clients import Flavour
from tests.hostile import POLL, SAMPLES, Api, HostileServer
from tests.hostile.conftest import FAST_RETRY, FAST_SCHEDULE, KEY


@pytest.fixture
def foreign() -> Iterator[HostileServer]:
    """Another server, reached as ``localhost`` (the API is reached as 127.0.0.1)."""
    with HostileServer() as other:
        yield other


@pytest.fixture
def redirected_api(server: HostileServer, foreign: HostileServer) -> Api:
    """An API whose polling_url points at the foreign server, which would answer polls."""
    api = server.api(key=KEY, polling_base=f"http://localhost:{foreign.port}")
    foreign.route("GET", POLL, api.poll)
    return api


def client(server: HostileServer, **options: Any) -> FluxFlex:
    settings: dict[str, Any] = {"poll_schedule": FAST_SCHEDULE, "retry": FAST_RETRY}
    return FluxFlex(api_key=KEY, base_url=server.url, **{**settings, **options})


def test_a_foreign_polling_url_is_refused_before_anything_is_sent(
    server: HostileServer, foreign: HostileServer, redirected_api: Api, flavour: Flavour
) -> None:
    # Before: the client sent x-key to whatever host the polling_url named. (For both
    # clients: the `flavour` fixture of tests/conftest.py.)
    c = flavour.client(
        api_key=KEY, base_url=server.url, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY
    )
    with pytest.raises(UntrustedHostError) as caught:
        c.generate("a fox")
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert error.host == "localhost"
    assert error.task_id == server.created_tasks[0]
    assert "trusted_hosts=['localhost']" in str(error)
    assert error.task_id in str(error)
    assert KEY not in str(error)
    assert foreign.requests == []  # nothing at all: no key, and no key-less poll either
    assert server.created_tasks == ["task-1"]


def test_a_submitted_job_polling_elsewhere_is_refused_too(
    server: HostileServer, foreign: HostileServer, redirected_api: Api, flavour: Flavour
) -> None:
    c = flavour.client(
        api_key=KEY, base_url=server.url, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY
    )
    job = c.submit("a fox")
    with pytest.raises(UntrustedHostError):
        job.wait(timeout=5)
    with pytest.raises(UntrustedHostError):
        c.get_result(job)
    assert foreign.requests == []


def test_a_trusted_host_gets_the_key_and_the_task_finishes(
    server: HostileServer, foreign: HostileServer, redirected_api: Api
) -> None:
    # The control: the same redirection, trusted by name, works (so the refusal above is
    # the rule at work, not a broken setup).
    with client(server, trusted_hosts=["LOCALHOST"]) as c:
        result = c.generate("a fox")
    assert result.id == "task-1"
    assert foreign.count("GET", POLL) >= 1
    assert all(r.headers.get("x-key") == KEY for r in foreign.requests)
    assert server.count("GET", POLL) == 0


def test_a_polling_url_given_by_hand_is_checked_the_same_way(
    server: HostileServer, foreign: HostileServer, api: Api
) -> None:
    url = f"http://localhost:{foreign.port}{POLL}?id=task-9"
    with client(server) as c:
        with pytest.raises(UntrustedHostError) as caught:
            c.job("task-9", polling_url=url).wait(timeout=5)
        with pytest.raises(UntrustedHostError):
            c.get_result("task-9", polling_url=url)
    assert caught.value.task_id == "task-9"
    assert foreign.requests == []


def test_a_key_in_the_users_own_client_never_reaches_the_delivery_host(
    server: HostileServer, foreign: HostileServer
) -> None:
    api = server.api(key=KEY, sample_base=f"http://localhost:{foreign.port}")
    foreign.route("GET", SAMPLES + "*", api.download)
    with httpx.Client(headers={"x-key": KEY}) as mine:
        c = client(server, http_client=mine)
        assert c.generate("a fox").read().startswith(b"\x89PNG")
    assert foreign.count("GET", SAMPLES + "*") == 1
    assert not any(r.carried_key for r in foreign.requests)
