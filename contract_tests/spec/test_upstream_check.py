"""`make upstream-check`: spec/ against documents shaped the way the vendor publishes its own.

Every document here is built by the tests from our spec (contract_tests/spec/vendor_docs.py),
never copied from the vendor; all of it runs offline (127.0.0.1 only).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract_tests.spec.vendor_docs import (
    OTHER_ENDPOINTS,
    Form,
    body_field,
    first_value_branch,
    operation,
    request_body,
    resolve,
    response_schema,
    result_shapes,
    upstream_check,
    vendor_document,
)
from contract_tests.spec_tools import ROOT, load_spec

FORMS: list[Form] = ["ref", "inline", "allof"]
Doc = dict[str, Any]


def differences(doc: Doc) -> list[str]:
    return upstream_check.compare_documents(load_spec(), doc)  # type: ignore[no-any-return]


# -- in step ---------------------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_our_spec_minus_our_marks_is_in_step_in_every_form(form: Form) -> None:
    # Renamed components, reworded titles and descriptions, FastAPI operationIds, inline or
    # allOf-wrapped schemas: none of it is drift.
    assert differences(vendor_document(form)) == []


def test_the_documents_here_write_result_and_credits_as_the_vendor_does() -> None:
    # Guards the in-step tests above: they stand for the vendor's document only if `result`
    # is FastAPI's `anyOf: [{}, {type: null}]`, credits has no 422, and other models'
    # endpoints sit beside FLEX's.
    doc = vendor_document()
    for shape in result_shapes(doc):
        assert shape["properties"]["result"]["anyOf"] == [{}, {"type": "null"}]
    assert set(operation(doc, "/v1/credits", "get")["responses"]) == {"200"}
    assert {"/v1/flux-3-image", "/v1/flux-2-pro", "/v1/flux-tools/erase-v1"} <= set(doc["paths"])


ANY_VALUE: list[Any] = [
    {},
    True,
    {"title": "Result", "description": "Anything."},
    {"anyOf": [{}, {"type": "null"}], "title": "Result"},  # FastAPI's `Any | None`
    {"anyOf": [{"type": "null"}, {}]},
    {"oneOf": [{"type": "string"}, {}]},
    {"nullable": True},  # OpenAPI 3.0's way
]


@pytest.mark.parametrize("schema", ANY_VALUE)
def test_any_value_is_one_shape_however_it_is_written(schema: Any) -> None:
    assert upstream_check.shape_of(schema, {}) == upstream_check.shape_of({}, {})
    assert (
        list(
            upstream_check.compare_shapes(
                "x", upstream_check.shape_of({}, {}), upstream_check.shape_of(schema, {})
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "null"}, ["x: type changed: any value -> any or null"]),
        (
            {"anyOf": [{"type": "object"}, {"type": "null"}]},
            ["x: type changed: any value -> object or null"],
        ),
        ({"type": "string", "nullable": True}, ["x: type changed: any value -> string or null"]),
    ],
)
def test_a_constrained_schema_is_not_any_value(schema: Any, expected: list[str]) -> None:
    # Guards the normalisation: only an unconstrained branch makes a union "any value".
    any_value = upstream_check.shape_of({}, {})
    assert (
        list(upstream_check.compare_shapes("x", any_value, upstream_check.shape_of(schema, {})))
        == expected
    )


def test_the_order_of_anyof_branches_does_not_matter() -> None:
    doc = vendor_document()
    response_schema(doc, "/v1/get_result", "get", "200")["anyOf"].reverse()
    body_field(doc, "width")["anyOf"].reverse()
    assert differences(doc) == []


def test_a_request_body_kept_in_components_is_followed() -> None:
    doc = vendor_document()
    post = operation(doc, "/v1/flux-2-flex", "post")
    doc["components"]["requestBodies"] = {"Body_flex": post["requestBody"]}
    post["requestBody"] = {"$ref": "#/components/requestBodies/Body_flex"}
    assert differences(doc) == []
    _set(first_value_branch(doc, body_field(doc, "width")), maximum=2048)
    assert differences(doc) == ["request.width: maximum added: 2048"]


def test_a_shape_3_0_writes_differently_is_the_same() -> None:
    # `nullable: true` and boolean exclusive bounds (OpenAPI 3.0) mean what 3.1 says.
    doc = vendor_document()
    body_field(doc, "seed").clear()
    body_field(doc, "seed").update({"type": "integer", "nullable": True})
    guidance = body_field(doc, "guidance")
    guidance["anyOf"][0] = {"type": "number", "minimum": 1.5, "maximum": 10}
    assert differences(doc) == []
    guidance["anyOf"][0]["exclusiveMinimum"] = True
    assert differences(doc) == [
        "request.guidance: minimum removed (was 1.5)",
        "request.guidance: exclusiveMinimum added: 1.5",
    ]


def test_our_marks_are_what_keeps_our_additions_out_of_the_report() -> None:
    # Guards the in-step test: without its mark, the 0 branch of width is a difference.
    ours = load_spec()
    zero = ours["components"]["schemas"]["Flux2FlexInputs"]["properties"]["width"]["anyOf"][1]
    del zero["x-flux-flex"]
    assert upstream_check.compare_documents(ours, vendor_document()) == [
        "request.width[integer (minimum 0, maximum 0)]: shape removed"
    ]


def test_the_mark_is_what_keeps_the_vendors_default_of_width_in_the_comparison() -> None:
    # The spec leaves width's `default: 0` out (a generated client must not send it) and
    # records it in `vendor-keys`; without the record, the vendor's default is a difference.
    ours = load_spec()
    width = ours["components"]["schemas"]["Flux2FlexInputs"]["properties"]["width"]
    del width["x-flux-flex"]
    assert upstream_check.compare_documents(ours, vendor_document()) == [
        "request.width: default added: 0"
    ]


# -- each kind of drift, named by its path ----------------------------------------------------
def _set(node: dict[str, Any], **values: Any) -> None:
    node.update(values)


def _drop(node: dict[str, Any], key: str) -> None:
    del node[key]


def _status_enum(doc: Doc) -> list[str]:
    enum: list[str] = resolve(doc, result_shapes(doc)[0]["properties"]["status"])["enum"]
    return enum


def _add_status(doc: Doc, value: str) -> None:
    for shape in result_shapes(doc):  # inline: each shape holds its own copy
        enum = resolve(doc, shape["properties"]["status"])["enum"]
        if value not in enum:
            enum.append(value)


def _remove_status(doc: Doc, value: str) -> None:
    for shape in result_shapes(doc):
        enum = resolve(doc, shape["properties"]["status"])["enum"]
        if value in enum:
            enum.remove(value)


def _output_formats(doc: Doc) -> list[str]:
    enum: list[str] = first_value_branch(doc, body_field(doc, "output_format"))["enum"]
    return enum


def _third_result_shape(doc: Doc) -> None:
    response_schema(doc, "/v1/get_result", "get", "200")["anyOf"].append(
        {
            "type": "object",
            "required": ["id", "status", "queue_position"],
            "properties": {"id": {"type": "string"}, "queue_position": {"type": "integer"}},
        }
    )


def _without_cost_shape(doc: Doc) -> None:
    union = response_schema(doc, "/v1/get_result", "get", "200")
    union["anyOf"] = [s for s in union["anyOf"] if "cost" not in resolve(doc, s)["properties"]]


CASES: dict[str, tuple[Callable[[Doc], None], list[str]]] = {
    "bound added": (
        lambda d: _set(first_value_branch(d, body_field(d, "width")), maximum=2048),
        ["request.width: maximum added: 2048"],
    ),
    "bound changed": (
        lambda d: _set(first_value_branch(d, body_field(d, "guidance")), minimum=1),
        ["request.guidance: minimum changed: 1.5 -> 1"],
    ),
    "bound removed": (
        lambda d: _drop(first_value_branch(d, body_field(d, "steps")), "maximum"),
        ["request.steps: maximum removed (was 50)"],
    ),
    "exclusive bound added": (
        lambda d: _set(first_value_branch(d, body_field(d, "guidance")), exclusiveMaximum=10),
        ["request.guidance: exclusiveMaximum added: 10"],
    ),
    "length changed": (
        lambda d: _set(first_value_branch(d, body_field(d, "webhook_url")), maxLength=4096),
        ["request.webhook_url: maxLength changed: 2083 -> 4096"],
    ),
    "length removed": (
        lambda d: _drop(first_value_branch(d, body_field(d, "user")), "minLength"),
        ["request.user: minLength removed (was 1)"],
    ),
    "field removed": (
        lambda d: _drop(request_body(d)["properties"], "user"),
        ["request.user: removed"],
    ),
    "field added": (
        lambda d: _set(
            request_body(d)["properties"],
            style={"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Style"},
        ),
        ["request.style: added (string or null)"],
    ),
    "type changed": (
        lambda d: _set(first_value_branch(d, body_field(d, "seed")), type="string"),
        ["request.seed: type changed: integer -> string"],
    ),
    "null allowed": (
        lambda d: _set(
            request_body(d)["properties"],
            prompt={"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Prompt"},
        ),
        ["request.prompt: null allowed"],
    ),
    "null no longer allowed": (
        lambda d: _set(body_field(d, "steps"), anyOf=body_field(d, "steps")["anyOf"][:1]),
        ["request.steps: null no longer allowed"],
    ),
    "default changed": (
        lambda d: _set(body_field(d, "steps"), default=28),
        ["request.steps: default changed: 50 -> 28"],
    ),
    "default removed": (
        lambda d: _drop(body_field(d, "prompt_upsampling"), "default"),
        ["request.prompt_upsampling: default removed (was true)"],
    ),
    "required removed": (
        lambda d: _set(request_body(d), required=[]),
        ["request.prompt: required removed"],
    ),
    "status added": (
        lambda d: _add_status(d, "Upscaling"),
        ["status: value added: 'Upscaling'"],
    ),
    "status removed": (
        lambda d: _remove_status(d, "Reasoning"),
        ["status: value removed: 'Reasoning'"],
    ),
    "output format added": (
        lambda d: _output_formats(d).append("avif"),
        ["output_format: value added: 'avif'"],
    ),
    "cost no longer required": (
        lambda d: result_shapes(d)[0]["required"].remove("cost"),
        ["get_result.200[with cost].cost: required removed"],
    ),
    "cost's type changed": (
        lambda d: _set(result_shapes(d)[0]["properties"]["cost"], type="integer"),
        ["get_result.200[with cost].cost: type changed: number -> integer"],
    ),
    "field added to the plain shape": (
        lambda d: _set(result_shapes(d)[1]["properties"], eta={"type": "number"}),
        ["get_result.200[plain].eta: added (number)"],
    ),
    "shape removed": (
        _without_cost_shape,
        ["get_result.200[with cost]: shape removed"],
    ),
    "shape added": (
        _third_result_shape,
        ["get_result.200: shape added: object with id, queue_position"],
    ),
    "submission shape changed": (
        lambda d: _drop(
            resolve(d, response_schema(d, "/v1/flux-2-flex", "post", "200")["anyOf"][0])[
                "properties"
            ],
            "output_mp",
        ),
        ["submit.200[with polling_url].output_mp: removed"],
    ),
    "credits removed": (
        lambda d: _drop(d["paths"], "/v1/credits"),
        ["credits: operation removed (GET /v1/credits)"],
    ),
    "result narrowed to an object": (
        lambda d: [
            _set(
                shape["properties"],
                result={"anyOf": [{"type": "object"}, {"type": "null"}], "title": "Result"},
            )
            for shape in result_shapes(d)
        ],
        [
            "get_result.200[with cost].result: type changed: any value -> object or null",
            "get_result.200[plain].result: type changed: any value -> object or null",
        ],
    ),
    "credits gains a 422": (
        lambda d: _set(
            operation(d, "/v1/credits", "get")["responses"],
            **{"422": operation(d, "/v1/get_result", "get")["responses"]["422"]},
        ),
        ["credits.422: response added"],
    ),
    "credits' type changed": (
        lambda d: _set(
            response_schema(d, "/v1/credits", "get", "200")["properties"]["credits"],
            type="integer",
        ),
        ["credits.200.credits: type changed: number -> integer"],
    ),
    "error status documented": (
        lambda d: _set(
            operation(d, "/v1/get_result", "get")["responses"],
            **{"404": {"description": "Not Found"}},
        ),
        ["get_result.404: response added"],
    ),
    "query parameter no longer required": (
        lambda d: _set(operation(d, "/v1/get_result", "get")["parameters"][0], required=False),
        ["get_result.query.id: required removed"],
    ),
    "security added": (
        lambda d: _set(operation(d, "/v1/get_result", "get"), security=[{"APIKeyHeader": []}]),
        ["get_result: security added: apiKey header x-key"],
    ),
    "security removed": (
        lambda d: _drop(operation(d, "/v1/credits", "get"), "security"),
        ["credits: security removed: apiKey header x-key"],
    ),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", list(CASES))
def test_each_drift_is_reported_once_by_its_path(case: str, form: Form) -> None:
    mutate, expected = CASES[case]
    doc = vendor_document(form)
    mutate(doc)
    assert differences(doc) == expected


def test_several_differences_are_each_on_their_own_line(tmp_path: Path) -> None:
    doc = vendor_document()
    _add_status(doc, "Upscaling")
    _drop(request_body(doc)["properties"], "user")
    _set(first_value_branch(doc, body_field(doc, "width")), maximum=2048)
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(doc))
    code, out, err = run_main(str(source))
    assert code == 1
    assert out.splitlines() == [
        "request.width: maximum added: 2048",
        "request.user: removed",
        "status: value added: 'Upscaling'",
    ]
    assert "3 difference(s)" in err


def test_other_endpoints_are_listed_once_and_are_never_drift(tmp_path: Path) -> None:
    doc = vendor_document()
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(doc))
    code, out, err = run_main(str(source))
    assert (code, out) == (0, f"spec/ is in step with {source} (vendor revision 2026-09).\n")
    listed = ["POST /v1/flux-2-pro", "POST /v1/flux-3-image", "POST /v1/flux-tools/erase-v1"]
    assert err == "other endpoints, not followed (3):\n" + "".join(f"  {e}\n" for e in listed)
    assert len(OTHER_ENDPOINTS) == 3
    # A change to one of them is not drift either; a change to FLEX still is, and the list
    # comes once, after the verdict.
    doc["components"]["schemas"]["Flux3ImageInputs"]["properties"]["seed"] = {"type": "integer"}
    doc["paths"]["/v1/flux-3-video"] = {"post": doc["paths"]["/v1/flux-3-image"]["post"]}
    _add_status(doc, "Upscaling")
    source.write_text(json.dumps(doc))
    code, out, err = run_main(str(source))
    assert (code, out) == (1, "status: value added: 'Upscaling'\n")
    assert err.count("other endpoints, not followed (4):") == 1
    assert err.count("POST /v1/flux-3-video") == 1
    assert err.index("other endpoints") < err.index("1 difference(s)")


def test_a_new_method_on_a_followed_path_is_another_endpoint() -> None:
    doc = vendor_document(others=False)
    doc["paths"]["/v1/get_result"]["delete"] = {"responses": {"200": {"description": "OK"}}}
    assert upstream_check.other_endpoints(doc) == ["DELETE /v1/get_result"]
    assert differences(doc) == []


def test_descriptions_titles_and_examples_are_not_compared() -> None:
    doc = vendor_document()
    prompt = body_field(doc, "prompt")
    prompt.update(title="Something", description="Other words", examples=["x"])
    assert differences(doc) == []


# -- reading: files, URLs, and documents that cannot be used ---------------------------------
def run_main(*argv: str) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = upstream_check.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_a_yaml_document_in_step_exits_0(tmp_path: Path) -> None:
    source = tmp_path / "openapi.yaml"
    source.write_text(yaml.safe_dump(vendor_document("inline")))
    code, out, _ = run_main(str(source))
    assert (code, out) == (0, f"spec/ is in step with {source} (vendor revision 2026-09).\n")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "cannot read the file"),
        ('{"openapi": "3.1.0", "paths": {', "neither JSON nor YAML"),
        ("[1, 2]", "not an OpenAPI document (list)"),
        ('{"openapi": "3.1.0"}', "not an OpenAPI document (no `paths`)"),
        (b"\xff\xfe\x00", "cannot read the file"),
    ],
)
def test_an_unreadable_file_exits_2_with_why(
    content: str | bytes | None, why: str, tmp_path: Path
) -> None:
    source = tmp_path / "openapi.json"
    if isinstance(content, bytes):
        source.write_bytes(content)
    elif content is not None:
        source.write_text(content)
    code, out, err = run_main(str(source))
    assert (code, out) == (2, "")
    assert err.startswith(f"upstream-check: cannot use {source}: ")
    assert why in err
    assert err.count("\n") == 1  # one line


def test_a_ref_that_does_not_resolve_exits_2(tmp_path: Path) -> None:
    doc = vendor_document()
    body = operation(doc, "/v1/flux-2-flex", "post")["requestBody"]
    body["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/Gone"}
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(doc))
    code, _, err = run_main(str(source))
    assert code == 2
    assert "$ref '#/components/schemas/Gone' does not resolve" in err


def test_a_node_of_the_wrong_kind_exits_2(tmp_path: Path) -> None:
    doc = vendor_document()
    request_body(doc)["properties"] = ["prompt", "width"]  # a list where names map to schemas
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(doc))
    code, _, err = run_main(str(source))
    assert code == 2
    assert "not a usable OpenAPI document (AttributeError" in err


@contextmanager
def serving(status: int, body: bytes, content_type: str) -> Iterator[str]:
    """A stdlib HTTP server on 127.0.0.1 answering every GET the same way; its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/openapi.json"
    finally:
        server.shutdown()
        server.server_close()


def test_a_url_in_step_exits_0() -> None:
    with serving(200, json.dumps(vendor_document()).encode(), "application/json") as url:
        code, out, _ = run_main(url)
    assert code == 0
    assert "in step" in out


@pytest.mark.parametrize(
    ("status", "body", "content_type", "why"),
    [
        (500, b'{"detail": "boom"}', "application/json", "HTTP 500 from http://127.0.0.1"),
        (200, b"<!doctype html><title>Docs</title>", "text/html", "not an OpenAPI document"),
    ],
)
def test_a_url_answering_no_document_exits_2(
    status: int, body: bytes, content_type: str, why: str
) -> None:
    with serving(status, body, content_type) as url:
        code, _, err = run_main(url)
    assert code == 2
    assert why in err
    assert err.count("\n") == 1


def test_a_server_dripping_its_answer_is_given_up_on_at_the_deadline() -> None:
    class Drip(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(200):  # a byte every 50 ms: each read is quick, the whole is not
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass  # the check hung up: what it should do

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/openapi.json"
        started = time.monotonic()
        code, _, err = run_main(url, "--timeout", "0.5")
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert code == 2
    assert "did not send its document within 0.5 s" in err
    assert elapsed < 5  # near the deadline, not after the 10 s the server would take


def test_an_unreachable_url_exits_2_quickly() -> None:
    with socket.socket() as probe:  # a port nobody listens on (bound, then released)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run_main(f"http://127.0.0.1:{port}/openapi.json", "--timeout", "5")
    assert code == 2
    assert "cannot fetch" in err
    assert "ConnectError" in err


# -- the make target ------------------------------------------------------------------------
def make_upstream_check(source: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "upstream-check", f"UPSTREAM={source}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_upstream_check_reports_in_step_and_drift(tmp_path: Path) -> None:
    same, drifted = tmp_path / "same.json", tmp_path / "drifted.json"
    same.write_text(json.dumps(vendor_document()))
    doc = vendor_document()
    _add_status(doc, "Upscaling")
    drifted.write_text(json.dumps(doc))

    done = make_upstream_check(same)
    assert done.returncode == 0, done.stderr
    assert "in step" in done.stdout

    done = make_upstream_check(drifted)
    assert done.returncode != 0
    assert done.stdout == "status: value added: 'Upscaling'\n"
    assert "Error 1" in done.stderr  # make passes on the script's exit status
