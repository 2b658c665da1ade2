"""`make lint`: the public API's type completeness, by `pyright --verifytypes`.

Fails (exit 1) below `THRESHOLD`, naming each public symbol whose type is unknown or
ambiguous (an attribute set without an annotation, say); prints the score either way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

PACKAGE = "flux_flex"
THRESHOLD = 0.98


def main() -> int:
    pyright = shutil.which("pyright")
    if pyright is None:
        print("error: pyright is not installed: run `make setup`.", file=sys.stderr)
        return 2
    run = subprocess.run(
        [pyright, "--verifytypes", PACKAGE, "--ignoreexternal", "--outputjson"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(run.stdout)["typeCompleteness"]
    except (ValueError, KeyError):
        print(run.stdout + run.stderr, file=sys.stderr)
        print("error: pyright gave no type completeness report (above).", file=sys.stderr)
        return 2
    score = float(report["completenessScore"])
    gaps = [
        symbol
        for symbol in report["symbols"]
        if symbol["isExported"] and (not symbol["isTypeKnown"] or symbol["isTypeAmbiguous"])
    ]
    for symbol in gaps:
        said = symbol["diagnostics"][0]["message"] if symbol["diagnostics"] else ""
        print(f"  {symbol['name']}: {said.splitlines()[0] if said else 'type not known'}")
    print(f"type completeness of {PACKAGE}: {score:.1%} (at least {THRESHOLD:.0%} required)")
    return 0 if score >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
