"""The README's code runs as copied, and its command lines parse.

Every ```python block of README.md is written, exactly as it stands, to a file in a fresh
temporary folder and run there by the interpreter running the tests, with ``BFL_API_KEY`` and
``BFL_BASE_URL`` pointing at a `FakeBFL` started by the test (quick tasks, quick webhook
retries):

* a block that defines ``test_*`` functions runs under pytest: every one of them must pass;
* any other block runs as a script (``python snippet.py``): it must exit 0 within its time
  limit and send at least one request to the fake. A block that only defines functions (a
  ``main()`` never called) sends nothing and fails; before running, every function a block
  defines must also be used in it (so the failure names the uncalled function).

HTML comments on the lines right above a block say more about it (stack several):

    <!-- example: examples/NAME.py -->  the block's lines appear, in order, in that script
                                         (the README may leave lines out, never add any)
    <!-- files: fox.png, ref.jpg -->    files made in the folder first: small real images of
                                         the format their extension names (png, jpg, webp)
    <!-- env: NAME=VALUE OTHER=X -->     more environment variables for the block
    <!-- sends: nothing -->             the block sends no request (say, an estimate): it
                                         must print something instead
    <!-- timeout: 90 -->                 seconds allowed (default 60)
    <!-- run: no, REASON -->             not run: a fragment of a larger program (say why)

Any other comment right above a python block is an error, so a misspelt marker cannot
silently do nothing. Every ``flux-flex ...`` line of a ```bash block must be accepted by the
real command's parser, every command must be shown, and every option named.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from flux_flex.cli.app import cli
from flux_flex.testing import FakeBFL
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(
    r"(?P<markers>(?:^<!--[^\n]*-->[ \t]*\n)*)^```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$",
    re.S | re.M,
)
MARKER = re.compile(r"<!--\s*(?P<key>[\w-]+)\s*:\s*(?P<value>.*?)\s*-->")
KEYS = ("example", "files", "env", "sends", "timeout", "run")
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
# Variables of the user's shell that would change what a snippet does.
UNSET = ("FLUX_FLEX_WEBHOOK_SECRET", "PUBLIC_WEBHOOK_URL", "PYTEST_ADDOPTS", "PYTHONPATH")


@dataclass
class Snippet:
    """One fenced block of a markdown text, with the markers above it."""

    lang: str
    body: str
    line: int
    markers: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"


def snippets(text: str, lang: str) -> list[Snippet]:
    """The ``lang`` blocks of ``text``; markers parsed (unknown keys raise ValueError)."""
    found = []
    for match in BLOCK.finditer(text):
        if match["lang"] != lang:
            continue
        line = text.count("\n", 0, match.start("body"))  # the fence's line, 1-based
        markers: dict[str, str] = {}
        for comment in match["markers"].splitlines():
            marker = MARKER.fullmatch(comment.strip())
            if marker is None or marker["key"] not in KEYS:
                raise ValueError(f"README.md:{line}: unknown marker {comment!r}; know {KEYS}")
            markers[marker["key"]] = marker["value"]
        found.append(Snippet(lang, match["body"], line, markers))
    return found


def missing_lines(snippet: str, source: str) -> list[str]:
    """The snippet's lines not found, in order, among the source's lines (stripped)."""
    wanted = [line.strip() for line in snippet.splitlines() if line.strip()]
    have = iter(line.strip() for line in source.splitlines())
    return [line for line in wanted if not any(line == candidate for candidate in have)]


def unused_functions(code: str) -> list[str]:
    """Module-level functions of ``code`` never used outside their own body (tests aside)."""
    tree = ast.parse(code)
    defined = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("test_")
    ]
    unused = []
    for function in defined:
        inside = {id(node) for node in ast.walk(function)}
        used = any(
            isinstance(node, ast.Name) and node.id == function.name and id(node) not in inside
            for node in ast.walk(tree)
        )
        if not used:
            unused.append(function.name)
    return unused


def defined_tests(code: str) -> list[str]:
    return [
        node.name
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    ]


def make_files(folder: Path, names: str) -> None:
    """The files a ``files:`` marker asks for: small real images, by extension."""
    for name in (part.strip() for part in names.split(",") if part.strip()):
        image_format = IMAGE_FORMATS.get(Path(name).suffix.lower())
        if image_format is None:
            raise ValueError(f"files: {name!r} is not an image (.png, .jpg, .jpeg, .webp)")
        Image.new("RGB", (96, 64), (200, 80, 40)).save(folder / name, image_format)


def run_snippet(
    snippet: Snippet, fake: FakeBFL, folder: Path, environ: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Write the block to ``folder`` as it stands and run it as its markers say."""
    env = {k: v for k, v in environ.items() if k not in UNSET and not k.startswith("PYTEST_")}
    env |= {"BFL_API_KEY": fake.api_key, "BFL_BASE_URL": fake.base_url}
    for pair in shlex.split(snippet.markers.get("env", "")):
        name, _, value = pair.partition("=")
        env[name] = value
    make_files(folder, snippet.markers.get("files", ""))
    tests = defined_tests(snippet.body)
    script = folder / ("test_snippet.py" if tests else "snippet.py")
    script.write_text(snippet.body, encoding="utf-8")
    command = [sys.executable, str(script)]
    if tests:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", script.name]
    return subprocess.run(
        command,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=float(snippet.markers.get("timeout", 60)),
        check=False,
    )


def check_ran(snippet: Snippet, done: subprocess.CompletedProcess[str], sent: int) -> None:
    """Assert that the block did what a reader expects of it."""
    output = f"{snippet.name}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, output
    tests = defined_tests(snippet.body)
    if tests:
        assert f"{len(tests)} passed" in done.stdout, output
    elif snippet.markers.get("sends") == "nothing":
        assert done.stdout.strip(), f"the block printed nothing: {output}"
    else:
        assert sent > 0, f"the block sent no request to the API (nothing called?): {output}"


PYTHON = snippets(README, "python")


def test_the_readme_has_python_snippets() -> None:
    assert len(PYTHON) >= 6  # sync, async, batch, webhooks, resume, testing


@pytest.mark.parametrize("snippet", PYTHON, ids=lambda s: s.name)
def test_python_snippet_runs_as_copied(snippet: Snippet, fake: FakeBFL, tmp_path: Path) -> None:
    if snippet.markers.get("run", "").startswith("no"):
        assert snippet.markers["run"].partition(",")[2].strip(), "run: no needs a reason"
        pytest.skip(f"{snippet.name}: {snippet.markers['run']}")
    assert unused_functions(snippet.body) == [], f"{snippet.name} defines but never calls"
    before = len(fake.requests)
    done = run_snippet(snippet, fake, tmp_path, os.environ)
    check_ran(snippet, done, len(fake.requests) - before)


@pytest.mark.parametrize(
    "snippet", [s for s in PYTHON if "example" in s.markers], ids=lambda s: s.name
)
def test_python_snippet_matches_its_example(snippet: Snippet) -> None:
    source = snippet.markers["example"]
    assert source.startswith("examples/")
    assert missing_lines(snippet.body, (ROOT / source).read_text(encoding="utf-8")) == []


# --- the mechanism itself: each check must be able to fail -------------------------------------


def test_missing_lines_catches_a_changed_line() -> None:
    source = "a = 1\nb = 2\nc = 3\n"
    assert missing_lines("a = 1\nc = 3", source) == []
    assert missing_lines("c = 3\na = 1", source) == ["a = 1"]  # order matters
    assert missing_lines("a = 1\nb = 5", source) == ["b = 5"]


def test_unused_functions_names_a_main_never_called() -> None:
    never = "import asyncio\n\nasync def main() -> None:\n    pass\n"
    assert unused_functions(never) == ["main"]
    assert unused_functions(never + "\nasyncio.run(main())\n") == []
    callback = "def show(x): print(x)\n\ndef main(): run(on_progress=show)\n\nmain()\n"
    assert unused_functions(callback) == []
    recursive = "def main(n):\n    return main(n - 1)\n"  # only calls itself
    assert unused_functions(recursive) == ["main"]
    assert unused_functions("def test_x():\n    assert True\n") == []


def test_markers_are_parsed_and_a_misspelt_one_is_refused() -> None:
    text = (
        "<!-- example: examples/x.py -->\n<!-- files: a.png, b.jpg -->\n"
        "```python\nprint(1)\n```\n\n```bash\nls\n```\n"
    )
    (block,) = snippets(text, "python")
    assert block.markers == {"example": "examples/x.py", "files": "a.png, b.jpg"}
    assert block.body == "print(1)\n"
    assert block.line == 3
    with pytest.raises(ValueError, match="unknown marker"):
        snippets("<!-- exmaple: examples/x.py -->\n```python\nprint(1)\n```\n", "python")


def test_files_marker_makes_real_images(tmp_path: Path) -> None:
    make_files(tmp_path, "fox.png, ref.jpeg, c.webp")
    for name, expected in (("fox.png", "PNG"), ("ref.jpeg", "JPEG"), ("c.webp", "WEBP")):
        with Image.open(tmp_path / name) as image:
            assert image.format == expected
    with pytest.raises(ValueError, match="not an image"):
        make_files(tmp_path, "notes.txt")


@pytest.mark.parametrize(
    ("code", "markers", "reason"),
    [
        # The failure the README had: main() defined and never called.
        ("async def main():\n    print('never')\n", {}, "sent no request"),
        ("import sys\nsys.exit(3)\n", {}, ""),  # a failing script
        ("x = 1\n", {"sends": "nothing"}, "printed nothing"),
    ],
)
def test_a_block_that_does_nothing_or_fails_is_caught(
    code: str, markers: dict[str, str], reason: str, fake: FakeBFL, tmp_path: Path
) -> None:
    snippet = Snippet("python", code, 1, markers)
    before = len(fake.requests)
    done = run_snippet(snippet, fake, tmp_path, os.environ)
    with pytest.raises(AssertionError, match=reason or None):
        check_ran(snippet, done, len(fake.requests) - before)


def test_a_block_runs_with_its_files_and_env(fake: FakeBFL, tmp_path: Path) -> None:
    code = (
        "import os\nfrom pathlib import Path\n"
        "print(os.environ['GREETING'], Path('fox.png').stat().st_size > 0,"
        " os.environ['BFL_BASE_URL'])\n"
    )
    snippet = Snippet("python", code, 1, {"files": "fox.png", "env": "GREETING=hello"})
    done = run_snippet(snippet, fake, tmp_path, {**os.environ, "PUBLIC_WEBHOOK_URL": "x"})
    assert done.stdout.split() == ["hello", "True", fake.base_url]


# --- bash blocks: the CLI lines ------------------------------------------------------------

CLI_LINES = [
    line.strip()
    for block in snippets(README, "bash")
    for line in block.body.splitlines()
    if line.strip().startswith("flux-flex ")
]


def test_the_readme_shows_every_command() -> None:
    shown = {shlex.split(line, comments=True)[1] for line in CLI_LINES}
    assert shown == set(cli.commands)


@pytest.mark.parametrize("line", CLI_LINES)
def test_cli_line_parses(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts.txt").write_text("a fox\n")  # batch's file must exist
    name, *args = shlex.split(line, comments=True)[1:]
    group = click.Context(cli, info_name="flux-flex")
    command = cli.get_command(group, name)
    assert command is not None, f"no such command: {name}"
    command.make_context(name, args, parent=group)  # raises on an unknown or bad option


def test_every_cli_option_is_documented() -> None:
    group = click.Context(cli, info_name="flux-flex")
    undocumented = [
        f"{name} {option}"
        for name, command in cli.commands.items()
        for param in command.get_params(group)
        if isinstance(param, click.Option) and not param.hidden
        for option in param.opts
        if option.startswith("--") and option not in ("--help", "--debug") and option not in README
    ]
    assert undocumented == []
