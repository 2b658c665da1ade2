"""Reading the code blocks of the documentation and running them as a reader would.

The documentation is README.md and every ``docs/**/*.md`` page. Every ```python block is
written, exactly as it stands, to a file in a fresh temporary folder and run there by the
interpreter running the tests, with ``BFL_API_KEY`` and ``BFL_BASE_URL`` pointing at a
`FakeBFL` started by the test (quick tasks, quick webhook retries):

* a block that defines ``test_*`` functions runs under pytest: every one of them must pass;
* any other block runs as a script (``python snippet.py``): it must exit 0 within its time
  limit and send at least one request to the fake. A block that only defines functions (a
  ``main()`` never called) sends nothing and fails; before running, every function a block
  defines must also be used in it (so the failure names the uncalled function).

HTML comments on the lines right above a block say more about it (stack several):

    <!-- example: examples/NAME.py -->  the block's lines appear, in order, in that script
                                         (the docs may leave lines out, never add any)
    <!-- files: fox.png, ref.jpg -->    files made in the folder first: small real images of
                                         the format their extension names (png, jpg, webp)
    <!-- env: NAME=VALUE OTHER=X -->     more environment variables for the block
    <!-- sends: nothing -->             the block sends no request (say, an estimate): it
                                         must print something instead
    <!-- timeout: 90 -->                 seconds allowed (default 60)
    <!-- run: no, REASON -->             not run: a fragment of a larger program (say why)
    <!-- run: quickstart -->             (bash) the newcomer's commands: run line by line
                                         by tests/docs/test_quickstart.py

Any other comment right above a python or bash block is an error, so a misspelt marker
cannot silently do nothing. Every ``flux-flex ...`` line of a ```bash block must be
accepted by the real command's parser (tests/docs/test_cli_lines.py).
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flux_flex.testing import FakeBFL
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(
    r"(?P<markers>(?:^<!--[^\n]*-->[ \t]*\n)*)^```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$",
    re.S | re.M,
)
MARKER = re.compile(r"<!--\s*(?P<key>[\w-]+)\s*:\s*(?P<value>.*?)\s*-->")
KEYS = ("example", "files", "env", "sends", "timeout", "run")
CHECKED = ("python", "bash")  # the languages whose markers are read (others: none allowed)
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
# Variables of the user's shell that would change what a snippet does.
UNSET = ("FLUX_FLEX_WEBHOOK_SECRET", "PUBLIC_WEBHOOK_URL", "PYTEST_ADDOPTS", "PYTHONPATH")


def pages() -> list[Path]:
    """The documentation: README.md, then every page of the site, relative to the root."""
    return [Path("README.md"), *sorted(p.relative_to(ROOT) for p in ROOT.glob("docs/**/*.md"))]


@dataclass
class Snippet:
    """One fenced block of a markdown page, with the markers above it."""

    lang: str
    body: str
    line: int
    markers: dict[str, str] = field(default_factory=dict)
    page: str = "README.md"

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def snippets(text: str, lang: str, page: str = "README.md") -> list[Snippet]:
    """The ``lang`` blocks of ``text``; markers parsed (unknown keys raise ValueError)."""
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("body"))  # the fence's line, 1-based
        markers: dict[str, str] = {}
        for comment in match["markers"].splitlines():
            marker = MARKER.fullmatch(comment.strip())
            if match["lang"] in CHECKED and (marker is None or marker["key"] not in KEYS):
                raise ValueError(f"{page}:{line}: unknown marker {comment!r}; know {KEYS}")
            if marker is not None:
                markers[marker["key"]] = marker["value"]
        if match["lang"] == lang:
            found.append(Snippet(lang, match["body"], line, markers, page))
    return found


def all_snippets(lang: str) -> list[Snippet]:
    """The ``lang`` blocks of every page of the documentation."""
    return [
        snippet
        for page in pages()
        for snippet in snippets((ROOT / page).read_text(encoding="utf-8"), lang, str(page))
    ]


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
    """The ``test_*`` functions ``code`` defines at module level."""
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
        # Only the plugin the block relies on (fake_bfl): the dev tools' own pytest plugins
        # (hypothesis, schemathesis...) take seconds to load and are not what is shown.
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-p", "flux_flex.testing.pytest_plugin", script.name]
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
