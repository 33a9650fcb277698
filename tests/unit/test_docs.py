"""The README is a landing page and the reference lives in docs/: every link between
them, and to the code, still leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.*)$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")  # a regular expression in a table is no link


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation gone, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(title) for title in HEADING.findall(FENCE.sub("", page.read_text()))}


def links(page: Path) -> list[str]:
    return LINK.findall(CODE.sub("", FENCE.sub("", page.read_text())))


def broken_links(pages: list[Path], root: Path) -> list[str]:
    """Every link of ``pages`` that leads to no file, or to no heading of it."""
    broken = []
    for page in pages:
        for target in links(page):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.relative_to(root)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{page.relative_to(root)}: {target} (no such heading)")
    return broken


def test_every_link_in_the_readme_and_docs_leads_to_a_file_and_a_heading():
    assert broken_links(PAGES, ROOT) == []


def test_the_readme_is_a_landing_page_with_the_two_commands_and_the_picture():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "./scripts/demo.sh" in readme and "./scripts/test.sh" in readme
    assert "## How it fits together" in readme
    # Every page of the reference is reachable from it.
    linked = links(ROOT / "README.md")
    reachable = {(ROOT / target.partition("#")[0]).resolve() for target in linked}
    for page in PAGES[1:]:
        assert page.resolve() in reachable, f"{page.name} is not linked from the README"


def test_the_link_check_catches_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## A part\n")
    page.write_text(
        "# Title\n\n[here](#title) [gone](#nothing) [file](missing.md) "
        "[there](other.md#a-part) [not there](other.md#b-part) [web](https://x.org/#y)\n"
        "`[a regex](in code)`\n"
    )
    assert broken_links([page], tmp_path) == [
        "page.md: #nothing (no such heading)",
        "page.md: missing.md (no such file)",
        "page.md: other.md#b-part (no such heading)",
    ]
