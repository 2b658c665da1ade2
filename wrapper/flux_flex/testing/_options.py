"""The fake's settings as command-line options and a config file, for ``flux-flex
mock-server`` and ``python -m flux_flex.testing`` alike.

One table (``OPTIONS``) declares every option once; both command lines are built from it
(argparse and click), and both hand the raw values to ``settings()``, which also reads the
config file (JSON, or TOML by its ``.toml`` suffix) and checks everything with messages
that say what is wrong. Flags override the file. Only the standard library is imported
here, so the CLI can build its options without loading the fake.

Config file keys are ``FakeBFL``'s keyword arguments (``task_seconds``, ``lifecycle``,
``script``, ``markers``, ``balance``…) plus ``host``, ``port`` and ``faults`` (a list of
tables: ``kind``, ``method``, ``path``, ``times`` and the kind's own keys). For example::

    task_seconds = 3.0
    lifecycle = [["Pending", 0.5], "Reasoning", "Generating"]
    balance = 50.0
    error_shape = "error"
    [markers]
    "[upscale]" = ["Pending", "Generating", "Upscaling", "Ready"]
    [[faults]]
    kind = "status"
    method = "POST"
    path = "/v1/flux-2-flex"
    status = 503
    times = 2
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["OPTIONS", "Option", "apply_faults", "parse_fault", "parse_phases", "settings"]

DELIVERY_PATH = "/delivery/*"  # flux_flex.testing.DELIVERY_PATH (not imported: stay light)
FAULT_KINDS = ("status", "drop", "stall", "malformed", "cut")


# -- value parsers: each takes a flag's text or a config file's value ----------------------


def _number(value: Any, what: str, *, minimum: float = 0.0) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < minimum:
        raise ValueError(f"{what} must be a number >= {minimum:g}, not {value!r}")
    return number


def _integer(value: Any, what: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        number = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{what} must be an integer {bound}, not {value!r}")
    return number


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {value!r}")
    return value


def _choice(allowed: tuple[str, ...]) -> Callable[[Any, str], str]:
    def parse(value: Any, what: str) -> str:
        if value not in allowed:
            raise ValueError(f"{what} must be one of {', '.join(allowed)}; not {value!r}")
        return str(value)

    return parse


def parse_phases(value: Any, what: str) -> list[Any]:
    """Statuses, each optionally with seconds: ``"Pending=0.5,Reasoning,Generating"`` or a
    list such as ``[["Pending", 0.5], "Reasoning"]``."""
    if isinstance(value, str):
        items: list[Any] = []
        for part in value.split(","):
            name, _, seconds = part.strip().partition("=")
            if not name.strip():
                raise ValueError(f"{what}: an empty status in {value!r}")
            items.append((name.strip(), _number(seconds, what)) if seconds else name.strip())
        return items
    if isinstance(value, Sequence):
        return [tuple(item) if isinstance(item, list) else item for item in value]
    raise ValueError(f"{what} must be a list of statuses, not {value!r}")


def _markers(value: Any, what: str) -> dict[str, Any]:
    """``TEXT=STATUS`` or ``TEXT=STATUS,STATUS…`` (repeatable), or a table."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        pairs = []
        for item in [value] if isinstance(value, str) else list(value):
            text, sep, outcome = _text(item, what).partition("=")
            if not sep or not text:
                raise ValueError(f"{what} must look like TEXT=STATUS[,STATUS...], not {item!r}")
            pairs.append((text, outcome))
    markers: dict[str, Any] = {}
    for text, outcome in pairs:
        if isinstance(outcome, str) and "," not in outcome and "=" not in outcome:
            markers[_text(text, what)] = outcome.strip()
        else:
            markers[_text(text, what)] = parse_phases(outcome, f"{what} {text!r}")
    return markers


def _size(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, str):
        parts: list[Any] = value.lower().split("x")
    else:
        parts = list(value) if isinstance(value, Sequence) else []
    if len(parts) != 2:
        raise ValueError(f"{what} must look like WIDTHxHEIGHT, not {value!r}")
    return (_integer(parts[0], what, minimum=1), _integer(parts[1], what, minimum=1))


def _boolean(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"{what} must be true or false, not {value!r}")


def _faults(value: Any, what: str) -> list[dict[str, Any]]:
    items = [value] if isinstance(value, str | Mapping) else list(value)
    return [parse_fault(item, what) for item in items]


def _truth(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise ValueError(f"{what} must be true or false, not {value!r}")


def parse_fault(value: Any, what: str = "--fault") -> dict[str, Any]:
    """A fault to inject: ``"KIND [METHOD PATH] [key=value ...]"`` or a table.

    Kinds and their keys (``times`` for all, default 1):
    ``status`` (``status`` default 500, ``create_task``, ``retry_after``),
    ``drop`` (``create_task``), ``stall`` (``seconds``, required),
    ``malformed`` (``shape``: invalid_json or missing_id), ``cut`` (``fraction``, on sample
    downloads). METHOD and PATH (a glob) are required except for ``cut``.
    """
    if isinstance(value, str):
        tokens = shlex.split(value)
        if not tokens:
            raise ValueError(f"{what} is empty")
        spec: dict[str, Any] = {"kind": tokens[0]}
        rest = tokens[1:]
        if len(rest) >= 2 and "=" not in rest[0] and "=" not in rest[1]:
            spec["method"], spec["path"] = rest[0], rest[1]
            rest = rest[2:]
        for token in rest:
            key, sep, val = token.partition("=")
            if not sep:
                raise ValueError(
                    f"{what}: expected 'KIND [METHOD PATH] [key=value ...]', got {token!r} "
                    f"in {value!r}"
                )
            spec[key] = val
    elif isinstance(value, Mapping):
        spec = dict(value)
    else:
        raise ValueError(f"{what} must be a string or a table, not {value!r}")
    kind = spec.pop("kind", None)
    if kind not in FAULT_KINDS:
        raise ValueError(f"{what}: the kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
    fault: dict[str, Any] = {"kind": kind, "times": _integer(spec.pop("times", 1), what, minimum=1)}
    if kind == "cut":
        fault["method"], fault["path"] = "GET", DELIVERY_PATH
    else:
        if "method" not in spec or "path" not in spec:
            raise ValueError(f"{what}: a {kind} fault needs METHOD and PATH ({value!r})")
        fault["method"] = _text(spec.pop("method"), what).upper()
        fault["path"] = _text(spec.pop("path"), what)
    if kind == "status":
        fault["status"] = _integer(spec.pop("status", 500), what, minimum=100, maximum=599)
        headers = dict(spec.pop("headers", {}) or {})
        if "retry_after" in spec:
            headers["Retry-After"] = str(spec.pop("retry_after"))
        fault["headers"] = {str(k): str(v) for k, v in headers.items()} or None
        fault["body"] = spec.pop("body", None)
    if kind in ("status", "drop"):
        fault["create_task"] = _truth(spec.pop("create_task", False), what)
    if kind == "stall":
        if "seconds" not in spec:
            raise ValueError(f"{what}: a stall fault needs seconds=S ({value!r})")
        fault["seconds"] = _number(spec.pop("seconds"), what)
    if kind == "malformed":
        fault["shape"] = _choice(("invalid_json", "missing_id"))(
            spec.pop("shape", "invalid_json"), what
        )
    if kind == "cut":
        fraction = _number(spec.pop("fraction", 0.5), what)
        if fraction > 1:
            raise ValueError(f"{what}: fraction must be 0..1, not {fraction}")
        fault["fraction"] = fraction
    if spec:
        raise ValueError(f"{what}: unknown key(s) {', '.join(sorted(spec))} for a {kind} fault")
    return fault


def apply_faults(fake: Any, faults: Sequence[Mapping[str, Any]]) -> None:
    """Arm each parsed fault on ``fake`` (a ``FakeBFL``) through its public methods."""
    for fault in faults:
        kind, times = fault["kind"], fault["times"]
        if kind == "status":
            fake.fail_next(
                fault["method"],
                fault["path"],
                status=fault["status"],
                times=times,
                headers=fault.get("headers"),
                body=fault.get("body"),
                create_task=fault["create_task"],
            )
        elif kind == "drop":
            fake.drop_next(fault["method"], fault["path"], times, create_task=fault["create_task"])
        elif kind == "stall":
            fake.stall_next(fault["method"], fault["path"], fault["seconds"], times)
        elif kind == "malformed":
            fake.malformed_next(fault["method"], fault["path"], fault["shape"], times)
        else:
            fake.cut_download_next(times, fault["fraction"])


# -- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One setting: its flag, its key (``FakeBFL`` keyword / config file key), and how its
    value is read. ``switch``: a flag without a value, meaning ``switch``'s value."""

    flag: str
    key: str
    help: str
    parse: Callable[[Any, str], Any]
    metavar: str | None = None
    multiple: bool = False
    switch: Any = None


def _port(value: Any, what: str) -> int:
    return _integer(value, what, minimum=0, maximum=65535)


def _positive(value: Any, what: str) -> float:
    return _number(value, what)


def _count(value: Any, what: str) -> int:
    return _integer(value, what)


OPTIONS: tuple[Option, ...] = (
    Option("--host", "host", "Address to bind (default 127.0.0.1).", _text, "HOST"),
    Option("--port", "port", "Port to listen on; 0 picks a free one (default 8787).", _port, "N"),
    Option("--api-key", "api_key", "The key the fake accepts (default test-key).", _text, "KEY"),
    Option(
        "--task-seconds",
        "task_seconds",
        "How long each task runs before its final status (default 2), shared by the "
        "lifecycle's statuses that have no seconds of their own.",
        _positive,
        "S",
    ),
    Option(
        "--lifecycle",
        "lifecycle",
        "Running statuses in order, each with optional seconds "
        "(default Pending,Reasoning,Generating; e.g. 'Pending=0.5,Reasoning,Generating').",
        parse_phases,
        "LIST",
    ),
    Option(
        "--reasoning",
        "reasoning_needs_upsampling",
        "Serve Reasoning always, not only when prompt_upsampling is true (our assumption).",
        _boolean,
        switch=False,
    ),
    Option(
        "--script",
        "script",
        "Serve these statuses to every task instead, ending in the last one (any status, "
        "e.g. 'Pending,Reasoning,Generating,Upscaling,Ready').",
        parse_phases,
        "LIST",
    ),
    Option(
        "--marker",
        "markers",
        "A prompt marker and the final status (or the script) it asks for, e.g. "
        "'[upscale]=Pending,Upscaling,Ready' (repeatable; added to [fail], "
        "[moderate-content], [moderate-request]).",
        _markers,
        "TEXT=STATUS",
        multiple=True,
    ),
    Option(
        "--progress",
        "progress",
        "Poll progress: fraction (default), null, or omit.",
        _choice(("fraction", "null", "omit")),
        "MODE",
    ),
    Option(
        "--cost-on-poll",
        "cost_on_poll",
        "Which polls carry the settled cost: ready (default), always, never.",
        _choice(("ready", "always", "never")),
        "WHEN",
    ),
    Option(
        "--balance",
        "balance",
        "Credits on the account; a submission costing more gets 402 (default 1000000).",
        _positive,
        "CREDITS",
    ),
    Option(
        "--error-shape",
        "error_shape",
        "Error bodies: detail (FastAPI, default) or error ({error, message, details}).",
        _choice(("detail", "error")),
        "SHAPE",
    ),
    Option(
        "--max-in-flight",
        "max_in_flight",
        "Running tasks allowed at once; one more gets 429 (default 24).",
        _count,
        "N",
    ),
    Option(
        "--retry-after",
        "retry_after",
        "Fixed Retry-After of 429s (default: until a slot frees).",
        _positive,
        "S",
    ),
    Option(
        "--sample-ttl",
        "sample_ttl",
        "Seconds a sample URL works (default 600).",
        _positive,
        "S",
    ),
    Option(
        "--polling-base-url",
        "polling_base_url",
        "Base of polling_url ('{port}' is replaced), e.g. http://localhost:{port}.",
        _text,
        "URL",
    ),
    Option(
        "--delivery-base-url",
        "delivery_base_url",
        "Base of sample URLs ('{port}' is replaced), e.g. http://localhost:{port}/cdn.",
        _text,
        "URL",
    ),
    Option(
        "--default-size",
        "default_size",
        "Output size when width/height are 0 or absent (default: the size cost estimates "
        "assume, flux_flex._core.pricing.DEFAULT_OUTPUT_SIZE).",
        _size,
        "WxH",
    ),
    Option(
        "--strict-dimensions",
        "strict_dimensions",
        "Answer an explicit width or height of 0 with 422, as a server checking the "
        "vendor's minimum of 64 would (default: 0 lets the model choose).",
        _boolean,
        switch=True,
    ),
    Option(
        "--webhook-auth",
        "webhook_auth",
        "How deliveries prove themselves: hmac (X-BFL-Signature, default), secret "
        "(X-Webhook-Secret), or both.",
        _choice(("hmac", "secret", "both")),
        "SCHEME",
    ),
    Option(
        "--webhook-retry-scale",
        "webhook_retry_scale",
        "Multiplies the webhook retry delays of 1, 5 and 30 s (default 1).",
        _positive,
        "F",
    ),
    Option(
        "--duplicate-webhooks",
        "duplicate_webhooks",
        "Extra copies of each acknowledged delivery (default 0).",
        _count,
        "N",
    ),
    Option(
        "--webhook-response-shape",
        "webhook_response_shape",
        "Answer to a webhook submission: async (with polling_url, default) or webhook.",
        _choice(("async", "webhook")),
        "SHAPE",
    ),
    Option(
        "--no-webhooks",
        "deliver_webhooks",
        "Record webhook submissions but never deliver them.",
        _boolean,
        switch=False,
    ),
    Option(
        "--fault",
        "faults",
        "Inject a fault into the next requests: 'KIND [METHOD PATH] [key=value ...]', "
        "KIND one of status, drop, stall, malformed, cut; e.g. "
        "'status POST /v1/flux-2-flex status=503 times=2' (repeatable).",
        _faults,
        "SPEC",
        multiple=True,
    ),
)
"""Every setting of ``flux-flex mock-server`` / ``python -m flux_flex.testing``."""

_BY_KEY = {option.key: option for option in OPTIONS}
# Config-file keys that are FakeBFL keywords without a flag of their own.
_FILE_ONLY: dict[str, Callable[[Any, str], Any]] = {"webhook_timeout": _positive}


def _read_file(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ValueError(f"Cannot read the config file {path}: {exc.strerror or exc}") from exc
    try:
        if file.suffix.lower() == ".toml":
            import tomllib

            data: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "TOML" if file.suffix.lower() == ".toml" else "JSON"
        raise ValueError(f"The config file {path} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"The config file {path} must hold a table (an object) of settings")
    return data


def settings(
    flags: Mapping[str, Any], config_file: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``FakeBFL``/``serve`` keyword arguments and the faults to arm, from the config file
    (if any) overridden by ``flags`` (option key -> raw value; None and () mean unset).

    ``ValueError`` names the flag or key and what is wrong.
    """
    values: dict[str, Any] = {}
    faults: list[dict[str, Any]] = []
    markers: dict[str, Any] = {}
    if config_file is not None:
        for key, value in _read_file(config_file).items():
            what = f"{key!r} in {config_file}"
            option = _BY_KEY.get(key)
            if option is not None:
                parsed = option.parse(value, what)
            elif key in _FILE_ONLY:
                parsed = _FILE_ONLY[key](value, what)
            else:
                known = ", ".join(sorted([*_BY_KEY, *_FILE_ONLY]))
                raise ValueError(f"Unknown setting {key!r} in {config_file}; known: {known}")
            if key == "faults":
                faults += parsed
            elif key == "markers":
                markers |= parsed
            else:
                values[key] = parsed
    for key, raw in flags.items():
        option = _BY_KEY[key]
        if raw is None or (option.multiple and not raw):
            continue
        if option.multiple:
            parsed_items = [option.parse(item, option.flag) for item in raw]
            if key == "faults":
                faults += [fault for items in parsed_items for fault in items]
            else:
                for item in parsed_items:
                    markers |= item
        else:
            values[key] = option.parse(raw, option.flag)
    if markers:
        from ._config import DEFAULT_MARKERS

        values["markers"] = {**DEFAULT_MARKERS, **markers}
    return values, faults
