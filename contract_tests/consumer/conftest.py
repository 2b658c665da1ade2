"""Fixtures of the consumer contract suite, and the tally of generated cases it prints."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from contract_tests.consumer.cases import TALLY

# One profile for the property tests here: no deadline (the machine is shared and noisy), no
# example database written into the work tree, fixtures reused across examples on purpose.
settings.register_profile(
    "consumer-contract",
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
CONTRACT_SETTINGS = settings.get_profile("consumer-contract")


def pytest_configure(config: pytest.Config) -> None:
    # The strategies give `format: uri` a richer URL generator than hypothesis-jsonschema's.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Overriding standard format 'uri':hypothesis.errors.HypothesisWarning",
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    total = sum(TALLY.values())
    terminalreporter.write_sep("-", f"consumer contract: {total} generated cases")
    for kind, n in sorted(TALLY.items()):
        terminalreporter.write_line(f"  {n:6d}  {kind}")
