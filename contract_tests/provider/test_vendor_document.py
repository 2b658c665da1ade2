"""schemathesis against the fake with the document the vendor publishes (issue 11 §5).

The document is our spec minus what it marks `x-flux-flex` (ours), dressed the vendor's way
(contract_tests/spec/vendor_docs.py): only 200 and 422 answers, no security on get_result,
no links, no webhooks, width/height `>= 64` or null with no `0` branch. The fake must answer
it without a failure, except that it may answer statuses that document does not list (the
vendor's guides do: 401, 402, 403, 429, 5xx) — those are checked against the guides' list
instead of the document's.

The fake runs the strict reading of an explicit width/height of 0 (`strict_dimensions`), the
one this document states: schemathesis' negative cases send 0 and expect 422. The lenient
reading (0 lets the model choose) is fuzzed against our own spec (test_schemathesis.py).
"""

from __future__ import annotations

import hypothesis
import schemathesis
from flux_flex.testing import FakeBFL
from schemathesis.checks import status_code_conformance

from contract_tests.spec.vendor_docs import vendor_document

from .conftest import PROVIDER_KEY

DOCUMENT = vendor_document(others=False)  # FLEX, get_result and credits: what the fake serves
# Statuses the vendor's guides name beyond its document (docs/api-facts.md#error-statuses), and 405,
# HTTP's answer to schemathesis' probe with a method the document does not list.
GUIDE_STATUSES = {400, 401, 402, 403, 404, 405, 429, 500, 502, 503}

schema = schemathesis.openapi.from_dict(
    DOCUMENT, config=schemathesis.Config.from_dict({"headers": {"x-key": PROVIDER_KEY}})
)


@schemathesis.check
def documented_or_from_the_guides(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A status the document does not list must be one the vendor's guides name."""
    documented = {int(code) for code in case.operation.definition.raw["responses"]}
    if response.status_code not in documented | GUIDE_STATUSES:
        raise AssertionError(f"status {response.status_code}: neither documented nor a guide's")
    return None


def test_the_document_is_shaped_the_vendors_way() -> None:
    # Guards what the runs below stand on.
    assert "webhooks" not in DOCUMENT
    for route, method in [("/v1/flux-2-flex", "post"), ("/v1/get_result", "get")]:
        operation = DOCUMENT["paths"][route][method]
        assert set(operation["responses"]) == {"200", "422"}
    assert "security" not in DOCUMENT["paths"]["/v1/get_result"]["get"]
    assert "links" not in DOCUMENT["paths"]["/v1/flux-2-flex"]["post"]["responses"]["200"]
    width = DOCUMENT["components"]["schemas"]["FluxFlexInputs"]["properties"]["width"]
    assert width["anyOf"] == [{"type": "integer", "minimum": 64}, {"type": "null"}]


@schema.parametrize()
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same cases every run: a red run reproduces
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_the_fake_answers_the_vendors_document(
    case: schemathesis.Case, strict_fuzzed_fake: FakeBFL
) -> None:
    case.call_and_validate(
        base_url=strict_fuzzed_fake.base_url,
        excluded_checks=[status_code_conformance],
        additional_checks=[documented_or_from_the_guides],
    )
