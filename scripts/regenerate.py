"""Regenerate generated/flux_flex_api from spec/ (``make regenerate``), or check for drift.

    python scripts/regenerate.py            # rewrite generated/flux_flex_api
    python scripts/regenerate.py --check    # regenerate into a temporary folder and diff

Besides the client openapi-python-client writes, the package receives ``openapi.json`` (the
spec, converted from YAML so the installed package can read it without a YAML library) and
``py.typed``. Everything here is deterministic: two runs give byte-identical output.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "flux2-flex.openapi.yaml"
CONFIG = ROOT / "openapi-python-client.yaml"
# Our overrides of openapi-python-client's templates: open enums (an unknown value is data),
# x-key auth by default (key kept out of reprs), SPEC_VERSION, VENDOR_REVISION, __version__,
# a models package that imports each model on first use.
TEMPLATES = ROOT / "templates"
PACKAGE = ROOT / "generated" / "flux_flex_api"


class RegenerateError(Exception):
    """Regeneration could not run; the message says what to do."""


def load_and_validate_spec(spec: Path = SPEC) -> dict[str, object]:
    """Parse the YAML spec and validate it as OpenAPI 3.1, or raise RegenerateError."""
    try:
        import yaml
        from openapi_spec_validator import validate
    except ImportError as exc:  # pragma: no cover - only outside the dev environment
        raise RegenerateError(f"{exc.name} is missing: run `make setup` first.") from exc
    try:
        document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegenerateError(f"cannot read {spec}: {exc}\nFix the YAML and run again.") from exc
    try:
        validate(document)
    except Exception as exc:  # the validator raises several unrelated types
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = getattr(exc, "json_path", None)
        at = f" at {where}" if where else ""
        raise RegenerateError(
            f"{spec.name} is not valid OpenAPI 3.1{at}: {first_line}\n"
            "Fix the spec (openapi-spec-validator names the failing part) and run again."
        ) from exc
    return document  # type: ignore[no-any-return]


def generate(output: Path, spec: Path = SPEC) -> None:
    """Write the client package for ``spec`` into ``output`` (replacing it)."""
    document = load_and_validate_spec(spec)
    tool = shutil.which("openapi-python-client", path=_venv_path())
    if tool is None:
        raise RegenerateError("openapi-python-client is not installed: run `make setup` first.")
    env = {**os.environ, "PATH": _venv_path()}
    result = subprocess.run(
        [
            tool,
            "generate",
            "--path",
            str(spec),
            "--config",
            str(CONFIG),
            "--custom-template-path",
            str(TEMPLATES),
            "--meta",
            "none",
            "--output-path",
            str(output),
            "--overwrite",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "Warning" in line or "Error" in line or "not in PATH" in line
    ]
    if result.returncode != 0 or problems:
        raise RegenerateError(
            "openapi-python-client did not generate cleanly:\n"
            + (result.stdout + result.stderr).strip()
            + "\nFix the spec (or the config) and run again."
        )
    (output / "openapi.json").write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (output / "py.typed").write_text("", encoding="utf-8")


def drift(committed: Path = PACKAGE) -> list[str]:
    """Regenerate into a temporary folder; return the files that differ from ``committed``."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "flux_flex_api"
        generate(fresh)
        return _differences(filecmp.dircmp(fresh, committed, ignore=["__pycache__"]))


def _differences(cmp: filecmp.dircmp[str], prefix: str = "") -> list[str]:
    out = [prefix + name for name in cmp.left_only + cmp.right_only + cmp.diff_files]
    for name, sub in sorted(cmp.subdirs.items()):
        out += _differences(sub, f"{prefix}{name}/")
    return sorted(out)


def _venv_path() -> str:
    bin_dir = Path(sys.executable).parent
    return os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated/ has drifted")
    args = parser.parse_args()
    try:
        if args.check:
            changed = drift()
            if changed:
                print("generated/ differs from a fresh regeneration of the spec:", file=sys.stderr)
                for name in changed:
                    print(f"  generated/flux_flex_api/{name}", file=sys.stderr)
                print("Run `make regenerate` and commit the result.", file=sys.stderr)
                return 1
            print("generated/ matches the spec.")
        else:
            generate(PACKAGE)
            print(f"regenerated {PACKAGE.relative_to(ROOT)} from {SPEC.relative_to(ROOT)}")
    except RegenerateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
