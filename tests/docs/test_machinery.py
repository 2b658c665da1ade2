"""The machinery that runs the documentation's blocks: each check must be able to fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flux_flex.testing import FakeBFL
from PIL import Image

from .snippets import (
    Snippet,
    check_ran,
    make_files,
    missing_lines,
    pages,
    run_snippet,
    snippets,
    unused_functions,
)


def test_the_documentation_is_the_readme_and_every_page_of_the_site() -> None:
    found = [str(page) for page in pages()]
    assert found[0] == "README.md"
    assert "docs/api-facts.md" in found
    assert "docs/guides/journal.md" in found  # nested folders are read too


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
    (block,) = snippets(text, "python", "docs/x.md")
    assert block.markers == {"example": "examples/x.py", "files": "a.png, b.jpg"}
    assert block.body == "print(1)\n"
    assert block.line == 3
    assert block.name == "docs/x.md:3"
    with pytest.raises(ValueError, match=r"docs/x\.md:2: unknown marker"):
        snippets("<!-- exmaple: x -->\n```python\nprint(1)\n```\n", "python", "docs/x.md")
    # A misspelt marker above a bash block is refused too, even when reading python blocks.
    with pytest.raises(ValueError, match="unknown marker"):
        snippets("<!-- rn: quickstart -->\n```bash\nls\n```\n", "python")
    # Other languages' comments are not markers (a page may comment a text block).
    assert snippets("<!-- a note -->\n```text\nx\n```\n", "text")[0].markers == {}


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
        ("def test_a():\n    assert False\n", {}, ""),  # a failing test block
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
