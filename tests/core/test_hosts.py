"""Where the API key may go: the pure rule of `flux_flex._core.hosts`."""

from __future__ import annotations

import pytest
from flux_flex._core.hosts import KeyDestinations, host_of, key_may_go_to
from hypothesis import given, settings
from hypothesis import strategies as st

BASE = "https://api.bfl.ai"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.bfl.ai/v1/get_result?id=1",
        "https://api.eu.bfl.ai/v1/get_result?id=1",
        "https://api.us.bfl.ai/v1/get_result?id=1",
        "https://api.eu1.bfl.ai/v1/get_result?id=1",
        "https://api.us1.bfl.ai/v1/get_result?id=1",
        "HTTPS://API.EU1.BFL.AI/v1/get_result?id=1",
        "https://bfl.ai/v1/credits",
        "https://api.bfl.ai:8443/v1/get_result",
    ],
)
def test_https_hosts_under_bfl_ai_get_the_key(url: str) -> None:
    assert key_may_go_to(url, base_url=BASE)
    assert key_may_go_to(url, base_url="http://127.0.0.1:8000")  # whatever the base URL


@pytest.mark.parametrize(
    "url",
    [
        "http://api.bfl.ai/v1/get_result?id=1",  # cleartext
        "https://evilbfl.ai/v1/get_result",
        "https://bfl.ai.evil.example/v1/get_result",
        "https://api.bfl.ai.evil.example/v1/get_result",
        "https://api.bfl.ai@evil.example/v1/get_result",  # user info, then the real host
        "https://evil.example#@api.bfl.ai/",
        "https://evil.example?@api.bfl.ai/",
        "https://api.bfl.ai./v1/get_result",  # trailing dot: another name, refused
        "https://api.bfl.aı/v1/get_result",  # dotless i
        "/v1/get_result?id=1",
        "not a url",
        "",
    ],
)
def test_other_hosts_do_not(url: str) -> None:
    assert not key_may_go_to(url, base_url=BASE)


def test_the_base_urls_host_gets_it_over_its_scheme_or_https() -> None:
    base = "http://127.0.0.1:8000"
    assert key_may_go_to("http://127.0.0.1:8000/v1/get_result", base_url=base)
    assert key_may_go_to("http://127.0.0.1:9999/v1/get_result", base_url=base)  # same host
    assert key_may_go_to("https://127.0.0.1/v1/get_result", base_url=base)
    assert not key_may_go_to("http://localhost:8000/v1/get_result", base_url=base)
    proxy = "https://bfl-proxy.example.com"
    assert key_may_go_to("https://BFL-PROXY.example.com/v1/x", base_url=proxy)
    assert not key_may_go_to("http://bfl-proxy.example.com/v1/x", base_url=proxy)  # downgrade
    assert not key_may_go_to("https://other.example.com/v1/x", base_url=proxy)


def test_trusted_hosts_get_it_by_exact_name() -> None:
    rule = KeyDestinations(BASE, trusted_hosts=["Poll.Example.com"])
    assert rule.allows("https://poll.example.com/v1/get_result")
    assert rule.allows("http://poll.example.com:8080/v1/get_result")
    assert not rule.allows("https://sub.poll.example.com/v1/get_result")
    assert not rule.allows("https://example.com/v1/get_result")
    assert KeyDestinations().allows("https://api.bfl.ai/x")
    assert not KeyDestinations().allows("http://127.0.0.1/x")


def test_the_host_is_the_one_httpx_connects_to() -> None:
    assert host_of("https://api.bfl.ai@evil.example/x") == "evil.example"
    assert host_of("https://EU.BFL.AI/x") == "eu.bfl.ai"
    assert host_of("/relative") is None


_SUFFIXES = st.text(max_size=40) | st.text(alphabet="/@:?#.%\\[] \t\x00é", max_size=12)


@pytest.mark.parametrize(
    "base",
    [
        "https://api.bfl.ai",
        "http://127.0.0.1:8000",
        "https://proxy.example/bfl/",
        "http://[::1]:80",
    ],
)
@settings(max_examples=150, deadline=None)
@given(suffix=_SUFFIXES)
def test_a_url_under_the_base_url_is_judged_as_the_full_rule_judges_it(
    base: str, suffix: str
) -> None:
    # `allows` skips parsing URLs that start with the base URL and a "/": it must answer
    # exactly what parsing them would (user info, other hosts, odd characters included).
    rule = KeyDestinations(base, trusted_hosts=["trusted.example"])
    for url in (base.rstrip("/") + "/" + suffix, base.rstrip("/") + suffix, suffix):
        full = key_may_go_to(url, base_url=base, trusted_hosts=rule.trusted_hosts)
        assert rule.allows(url) is full, url


def test_a_url_too_long_for_httpx_is_refused_even_under_the_base_url() -> None:
    url = BASE + "/v1/get_result?id=" + "a" * 70_000  # httpx refuses URLs over 64 KiB
    assert not key_may_go_to(url, base_url=BASE)
    assert not KeyDestinations(BASE).allows(url)
    assert KeyDestinations(BASE).allows(BASE + "/v1/get_result?id=" + "a" * 4000)
