"""The README stays short, and its links and DEVELOPERS.md's lead somewhere. The site's own
links are checked by ``make docs`` (``mkdocs build --strict``), which reads neither."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from .snippets import BLOCK, ROOT

README = ROOT / "README.md"
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*$", re.M)


def slug(title: str) -> str:
    """The anchor python-markdown's toc gives a heading (what mkdocs and GitHub link to)."""
    text = unicodedata.normalize("NFKD", title.replace("`", "")).lower()
    text = re.sub(r"[^\w\s-]", "", text).strip()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = BLOCK.sub("", page.read_text(encoding="utf-8"))  # no "# comments" of code blocks
    return {slug(match["title"]) for match in HEADING.finditer(text)}


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file, or heading, does not exist."""
    broken = []
    text = BLOCK.sub("", page.read_text(encoding="utf-8"))
    for match in LINK.finditer(text):
        target = match["target"]
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
            broken.append(target)
    return broken


def test_the_readme_is_at_most_250_lines() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("name", ["README.md", "DEVELOPERS.md"])
def test_the_root_pages_links_lead_somewhere(name: str) -> None:
    assert broken_links(ROOT / name) == []


def test_the_readme_links_every_guide() -> None:
    text = README.read_text(encoding="utf-8")
    guides = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/guides/*.md"))
    assert [guide for guide in guides if f"]({guide}" not in text] == []


@pytest.mark.parametrize(
    ("markdown", "broken"),
    [
        ("[a](docs/api-facts.md#pricing)", []),
        ("[a](docs/api-facts.md#no-such-heading)", ["docs/api-facts.md#no-such-heading"]),
        ("[a](docs/no-such-page.md)", ["docs/no-such-page.md"]),
        ("# Top\n[a](#top) [b](https://example.com/x)", []),
        ("[a](#nowhere)", ["#nowhere"]),
    ],
)
def test_broken_links_are_found(markdown: str, broken: list[str], tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api-facts.md").write_text("# Facts\n\n## Pricing\n")
    page = tmp_path / "README.md"
    page.write_text(markdown, encoding="utf-8")
    assert broken_links(page) == broken


def test_slug_is_the_heading_anchor() -> None:
    assert slug("Never pay twice: the task journal") == "never-pay-twice-the-task-journal"
    assert slug("`flux-flex batch`") == "flux-flex-batch"
    assert slug("Status / wait") == "status-wait"
