"""`make mutants`: prove the contract suite has teeth.

Each mutant is a deliberate breakage: one or more exact text substitutions in named files.
The script copies the project into a temporary directory (the shared work tree is never
edited, so no mutant can be left behind, not even on Ctrl-C or a crash), checks that the
unmutated copy passes every selected test, then applies each mutant in turn, runs the tests
that should catch it, and restores the file. A mutant whose target text is missing, or found
more often than expected, is an error: mutants cannot rot silently when the code moves.

    python scripts/mutants.py            # all mutants
    python scripts/mutants.py -k retry   # those whose name contains "retry"
    python scripts/mutants.py --list     # names and what each breaks

Exit status: 0 when every mutant is killed, 1 when one survives, 2 on a setup problem.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a test run needs from the project (copied from the work tree, as it is now).
COPIED = ("pyproject.toml", "spec", "generated", "wrapper", "contract_tests", "tests", "scripts")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
PER_MUTANT_TIMEOUT = 240.0

CONSUMER = "contract_tests/consumer"


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` by ``new`` in ``path``; ``old`` must occur exactly ``count`` times."""

    path: str
    old: str
    new: str
    count: int = 1


@dataclass(frozen=True)
class Mutant:
    """A named breakage, the edits that make it, and the tests that must catch it."""

    name: str
    breaks: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "post-resent-on-5xx",
        "the client retries a (billed) POST answered 503",
        (
            Edit(
                "wrapper/flux_flex/_core/retry.py",
                "    if idempotent and status >= 500:\n",
                "    if status >= 500:\n",
            ),
        ),
        (
            f"{CONSUMER}/test_fault_matrix.py::test_post_5xx_is_sent_once_and_may_have_billed",
            f"{CONSUMER}/test_fault_matrix_fake.py::test_post_5xx_creates_a_task_but_is_not_resent",
        ),
    ),
    Mutant(
        "post-resent-after-lost-answer",
        "the client resends a POST after a read timeout (the task may already exist)",
        (
            Edit(
                "wrapper/flux_flex/_core/retry.py",
                "        if failure is FailureKind.CONNECT or idempotent:\n",
                "        if True:\n",
            ),
        ),
        (
            f"{CONSUMER}/test_fault_matrix.py::test_post_lost_answer_is_not_resent",
            f"{CONSUMER}/test_fault_matrix_fake.py::test_post_read_timeout_is_not_resent",
        ),
    ),
    Mutant(
        "retry-after-ignored",
        "a 429's Retry-After is ignored (plain backoff instead)",
        (
            Edit(
                "wrapper/flux_flex/_core/retry.py",
                "    if status == 429:\n"
                '        after = parse_retry_after(_header(headers or {}, "retry-after"))\n',
                "    if status == 429:\n        after = None\n",
            ),
        ),
        (f"{CONSUMER}/test_fault_matrix.py::test_post_429_honours_retry_after",),
    ),
    Mutant(
        "webhook-truncated-signature",
        "the webhook check accepts a truncated X-BFL-Signature (a prefix of the HMAC)",
        (
            Edit(
                "wrapper/flux_flex/webhooks/authenticity.py",
                'rb"sha256=([0-9a-fA-F]{64})"',
                'rb"sha256=((?:[0-9a-fA-F]{2}){1,32})"',
            ),
            Edit(
                "wrapper/flux_flex/webhooks/authenticity.py",
                "matched |= hmac.compare_digest(received, expected)",
                "matched |= hmac.compare_digest(received, expected[: len(received)])",
            ),
        ),
        (
            f"{CONSUMER}/test_webhooks_contract.py::test_a_truncated_signature_is_refused",
            f"{CONSUMER}/test_webhooks_contract.py::test_every_forged_delivery_is_refused",
        ),
    ),
    Mutant(
        "eight-images-sent-as-seven",
        "eight input images reach the request as seven",
        (
            Edit(
                "wrapper/flux_flex/_core/body.py",
                "zip(IMAGE_FIELDS, images, strict=False)",
                "zip(IMAGE_FIELDS[:7], images, strict=False)",
            ),
        ),
        (
            f"{CONSUMER}/test_requests_wrapper.py::test_eight_images_reach_the_request_as_eight_fields",
            f"{CONSUMER}/test_requests_wrapper.py::test_wrapper_sends_exactly_the_body_it_was_given",
        ),
    ),
    Mutant(
        "default-sent-unasked",
        "fields the user did not set are sent (as nulls) instead of left out",
        (
            Edit(
                "wrapper/flux_flex/_core/body.py",
                "values = _all_unset() | {",
                "values = dict.fromkeys(_all_unset()) | {",
            ),
        ),
        (f"{CONSUMER}/test_requests_wrapper.py::test_only_what_the_user_set_is_sent",),
    ),
    Mutant(
        "validator-max-off-by-one",
        "the local validator lets a value one past a maximum through (steps=51, ...)",
        (
            Edit(
                "wrapper/flux_flex/_core/schema.py",
                "and value > high:",
                "and value > high + 1:",
            ),
        ),
        (f"{CONSUMER}/test_invalid_input.py",),
    ),
    Mutant(
        "fake-422-wrong-field",
        "the fake's 422 names the wrong field in loc",
        (
            Edit(
                "wrapper/flux_flex/testing/_validation.py",
                'found: FieldErrorDict = {"loc": ["body", *path], "msg": message, "type": kind}',
                'found: FieldErrorDict = {"loc": ["body", *path[:-1], "width"], '
                '"msg": message, "type": kind}',
            ),
        ),
        (f"{CONSUMER}/test_wrapper_fake_agreement.py",),
    ),
    Mutant(
        "server-422-field-misread",
        "the client keeps 'body' in a 422's field names (body.width instead of width)",
        (
            Edit(
                "wrapper/flux_flex/_core/errormap.py",
                'loc = [str(part) for part in item.loc if part != "body"]',
                "loc = [str(part) for part in item.loc]",
            ),
        ),
        (f"{CONSUMER}/test_responses_wrapper.py::test_every_error_answer_becomes_its_typed_error",),
    ),
    Mutant(
        "unknown-status-ends-the-wait",
        "a status the client does not know ends the wait as a failure (the reader breaks on news)",
        (
            Edit(
                "wrapper/flux_flex/_core/status.py",
                '    if status not in FINAL_STATUSES or status == "Ready":\n        return None\n',
                '    if status in ("Pending", "Reasoning", "Generating", "Ready"):\n'
                "        return None\n",
            ),
        ),
        (
            f"{CONSUMER}/test_fault_matrix.py::test_an_unknown_status_means_still_running",
            f"{CONSUMER}/test_responses_wrapper.py::test_no_status_that_is_not_final_ever_ends_a_wait",
        ),
    ),
    Mutant(
        "key-sent-to-any-polling-host",
        "x-key goes to whatever host a polling_url names",
        (
            Edit(
                "wrapper/flux_flex/_core/flows.py",
                "    if not request.authenticated or env.key_destinations.allows(request.url):\n",
                "    if True:\n",
            ),
        ),
        (
            "tests/hostile/test_key_destination.py::"
            "test_a_foreign_polling_url_is_refused_before_anything_is_sent",
            "tests/core/test_flows.py::test_a_request_to_an_untrusted_host_is_never_yielded",
        ),
    ),
    Mutant(
        "html-saved-as-image",
        "a download whose body is not an image (an HTML error page) is saved anyway",
        (
            Edit(
                "wrapper/flux_flex/_files.py",
                "            if self.image and len(self.head) >= HEAD_BYTES:\n",
                "            if False:\n",
            ),
        ),
        (
            "tests/hostile/test_downloads.py::"
            "test_a_body_that_is_not_an_image_is_refused_and_nothing_is_saved",
        ),
    ),
    Mutant(
        "deadline-not-enforced-on-sockets",
        "socket reads are not capped by the wait's deadline (a drip-fed answer stretches it)",
        (
            Edit(
                "wrapper/flux_flex/_drivers.py",
                "        self.deadlines_enforced = install(http)\n",
                "        self.deadlines_enforced = False\n",
            ),
        ),
        ("tests/hostile/test_deadlines.py::test_a_slow_poll_cannot_stretch_a_wait",),
    ),
    Mutant(
        "secret-fragments-shown",
        "only whole secrets are masked: an echoed run of the key survives in an error",
        (
            Edit(
                "wrapper/flux_flex/_core/redact.py",
                "MIN_FRAGMENT = 8\n",
                "MIN_FRAGMENT = 10_000\n",
            ),
        ),
        ("tests/core/test_redact.py::test_a_run_of_the_secret_is_masked_a_short_hint_is_not",),
    ),
    Mutant(
        "uncertain-resubmitted-silently",
        "a submission whose answer was lost is sent again on the next run without being asked",
        (
            Edit(
                "wrapper/flux_flex/_core/journal.py",
                "        if resubmit_uncertain and not seen.owner_live:\n",
                "        if not seen.owner_live:\n",
            ),
        ),
        (
            "tests/batch/test_journal_runs.py::"
            "test_an_answer_lost_after_the_task_was_created_is_uncertain",
        ),
    ),
    Mutant(
        "key-sent-to-sample-host",
        "the sample download carries x-key to the delivery host",
        (
            Edit(
                "wrapper/flux_flex/_core/flows.py",
                '"GET", url, idempotent=True, authenticated=False, download_dir=download_dir',
                '"GET", url, idempotent=True, authenticated=True, download_dir=download_dir',
            ),
        ),
        (
            f"{CONSUMER}/test_requests_wrapper.py::test_the_key_goes_to_the_api_host_only",
            f"{CONSUMER}/test_fault_matrix_fake.py::test_the_happy_path_sends_one_post_and_no_key_to_the_sample",
        ),
    ),
    Mutant(
        "partial-download-left",
        "a broken download leaves its temporary file on disk",
        (
            Edit(
                "wrapper/flux_flex/_files.py",
                "    with contextlib.suppress(FileNotFoundError):\n        os.unlink(path)\n",
                "    with contextlib.suppress(FileNotFoundError):\n        pass\n",
            ),
        ),
        (
            f"{CONSUMER}/test_fault_matrix.py::test_a_download_cut_mid_stream_leaves_no_file",
            f"{CONSUMER}/test_fault_matrix_fake.py::test_download_cut_mid_stream_leaves_no_file",
        ),
    ),
)


class SetupError(Exception):
    """The run cannot start or cannot be trusted (missing target, failing baseline...)."""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _targets(mutants: Sequence[Mutant]) -> list[str]:
    return sorted({edit.path for m in mutants for edit in m.edits})


def check_targets(base: Path, mutants: Sequence[Mutant]) -> None:
    """Every edit's target text occurs as often as stated: else the mutant has rotted."""
    problems = []
    for mutant in mutants:
        for edit in mutant.edits:
            path = base / edit.path
            if not path.is_file():
                problems.append(f"{mutant.name}: {edit.path} does not exist")
                continue
            found = path.read_text(encoding="utf-8").count(edit.old)
            if found != edit.count:
                problems.append(
                    f"{mutant.name}: {edit.path}: target text found {found} times, "
                    f"expected {edit.count}:\n    {edit.old!r}"
                )
    if problems:
        raise SetupError("mutant targets do not match the code:\n  " + "\n  ".join(problems))


@contextmanager
def project_copy() -> Iterator[Path]:
    """A throw-away copy of the project; removed whatever happens."""
    with tempfile.TemporaryDirectory(prefix="flux-flex-mutants-") as tmp:
        copy = Path(tmp) / "project"
        copy.mkdir()
        for name in COPIED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, copy / name, ignore=IGNORED)
            elif source.is_file():
                shutil.copy2(source, copy / name)
        yield copy


@contextmanager
def applied(copy: Path, mutant: Mutant) -> Iterator[None]:
    """``mutant`` applied to the copy, every file restored byte for byte afterwards."""
    originals: dict[Path, bytes] = {}
    try:
        for edit in mutant.edits:
            path = copy / edit.path
            originals.setdefault(path, path.read_bytes())
            text = path.read_text(encoding="utf-8")
            if text.count(edit.old) != edit.count:
                raise SetupError(f"{mutant.name}: target text of {edit.path} not found")
            path.write_text(text.replace(edit.old, edit.new), encoding="utf-8")
        yield
    finally:
        for path, data in originals.items():
            path.write_bytes(data)


def _environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The copy's packages win over the editable install of the work tree (.pth entries come
    # after PYTHONPATH on sys.path).
    env["PYTHONPATH"] = os.pathsep.join(
        [str(copy / "wrapper"), str(copy / "generated"), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("BFL_API_KEY", None)  # never the live suite, never a paid call
    return env


def check_imports(copy: Path) -> None:
    """The test processes must import the copy's code, or every mutant would 'survive'."""
    probe = (
        "import flux_flex, flux_flex_api; print(flux_flex.__file__); print(flux_flex_api.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=copy,
        env=_environment(copy),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not all(Path(p).resolve().is_relative_to(copy.resolve()) for p in out):
        raise SetupError(f"the copy's packages are not the ones imported: {out}")


def run_tests(copy: Path, tests: Sequence[str]) -> tuple[bool, float, str]:
    """Run ``tests`` in the copy: (passed, seconds, last lines of output)."""
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            cwd=copy,
            env=_environment(copy),
            capture_output=True,
            text=True,
            timeout=PER_MUTANT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, time.monotonic() - started, f"timed out after {PER_MUTANT_TIMEOUT:g} s"
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
    return proc.returncode == 0, time.monotonic() - started, tail


def _work_tree_state(paths: Sequence[str]) -> dict[str, str]:
    return {p: _digest(ROOT / p) for p in paths if (ROOT / p).is_file()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="keyword", help="only mutants whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)

    mutants = [m for m in MUTANTS if not args.keyword or args.keyword in m.name]
    if args.list:
        for m in mutants:
            print(f"{m.name:36} {m.breaks}")
        return 0
    if not mutants:
        print(f"no mutant matches {args.keyword!r}", file=sys.stderr)
        return 2

    targets = _targets(mutants)
    before = _work_tree_state(targets)
    results: list[tuple[Mutant, str, float, str]] = []
    try:
        check_targets(ROOT, mutants)
        with project_copy() as copy:
            check_imports(copy)
            baseline = sorted({t for m in mutants for t in m.tests})
            print(
                f"baseline: {len(baseline)} test selections on the unmutated copy ...", flush=True
            )
            ok, seconds, tail = run_tests(copy, baseline)
            if not ok:
                raise SetupError(f"the unmutated code fails the selected tests:\n{tail}")
            print(f"baseline: passed in {seconds:.1f} s\n", flush=True)
            for mutant in mutants:
                print(f"{mutant.name:36} ", end="", flush=True)
                with applied(copy, mutant):
                    passed, seconds, tail = run_tests(copy, mutant.tests)
                verdict = "SURVIVED" if passed else "killed"
                print(f"{verdict:8} ({seconds:5.1f} s)  {mutant.breaks}", flush=True)
                results.append((mutant, verdict, seconds, tail))
    except SetupError as exc:
        print(f"\nmutants: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmutants: interrupted (the work tree was never modified)", file=sys.stderr)
        return 130
    finally:
        after = _work_tree_state(targets)
        if after != before:  # someone else edited them meanwhile: we never write there
            changed = sorted(p for p in targets if before.get(p) != after.get(p))
            print(f"note: files changed in the work tree during the run: {changed}")

    killed = sum(1 for _, verdict, _, _ in results if verdict == "killed")
    print(f"\nmutants killed: {killed}/{len(results)}")
    for mutant, verdict, _, tail in results:
        if verdict == "SURVIVED":
            print(f"\nSURVIVED {mutant.name}: {mutant.breaks}\n  tests: {list(mutant.tests)}")
            print("  " + tail.replace("\n", "\n  "))
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
