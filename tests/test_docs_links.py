"""Every relative link of README.md and docs/: Markdown links and images name files of the repository
that exist, and a ``#anchor`` names a heading of its target, as GitHub makes the anchors."""
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").rglob("*.md"))
PARSER = MarkdownIt("commonmark").enable("table")


def heading_slugs(path: Path) -> set[str]:
    """GitHub's anchors of the headings of ``path``: the heading's text in lower case, punctuation other
    than '-' and '_' dropped, each space turned into '-'; a repeated anchor gets -1, -2, ..."""
    tokens = PARSER.parse(path.read_text(encoding="utf-8"))
    slugs, seen = set(), {}
    for token, inline in zip(tokens, tokens[1:]):
        if token.type == "heading_open":
            text = "".join(child.content for child in inline.children if child.type in ("text", "code_inline"))
            slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
            slugs.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return slugs


def link_targets(path: Path) -> list[str]:
    """The target of every link ``[..](target)`` and image ``![..](target)`` of ``path``, in order (code
    spans and code blocks hold none)."""
    targets = []
    for token in PARSER.parse(path.read_text(encoding="utf-8")):
        for child in token.children or []:
            if child.type == "link_open":
                targets.append(child.attrs["href"])
            elif child.type == "image":
                targets.append(child.attrs["src"])
    return targets


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """The relative link targets of ``path`` that name no file inside ``root``, or a heading that their
    Markdown target lacks, each with the reason; web addresses are not checked."""
    broken = []
    for target in link_targets(path):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue
        file = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not file.exists() or not file.is_relative_to(root):
            broken.append(f"{target}: no such file in the repository")
        elif parts.fragment and file.suffix == ".md" and unquote(parts.fragment) not in heading_slugs(file):
            broken.append(f"{target}: no heading #{parts.fragment} in {file.name}")
    return broken


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(document):
    assert broken_links(document) == []


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / unquote(urlsplit(target).path)).resolve() for target in link_targets(README)}
    assert [page for page in DOCS if page not in linked] == []


def test_broken_files_and_anchors_are_reported(tmp_path):
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (tmp_path / "outside.md").write_text("# Outside\n")
    (repo / "other.md").write_text("# Other page\n\n## Speed, large images\n")
    page = repo / "docs" / "page.md"
    page.write_text("# Page\n\n[ok](../other.md#speed-large-images) [self](#page) ![picture](missing.png)\n"
                    "[anchor](../other.md#speed) [web](https://example.com/a.md) [out](../../outside.md)\n"
                    "`[code span](no.md)`\n\n    [indented code](no.md)\n")
    assert broken_links(page, repo) == ["missing.png: no such file in the repository",
                                        "../other.md#speed: no heading #speed in other.md",
                                        "../../outside.md: no such file in the repository"]


def test_heading_slugs_follow_github(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# ICLR and Zero-LEINR — reference\n\n## Datasets (`./datasets`, or `--data_root`)\n\n"
                    "## Zero-LEINR: quirks (spec §10)\n\n## **Bold** eval.py\n\n## Zero-LEINR\n\n## Zero-LEINR\n")
    assert heading_slugs(page) == {"iclr-and-zero-leinr--reference", "datasets-datasets-or---data_root",
                                   "zero-leinr-quirks-spec-10", "bold-evalpy", "zero-leinr", "zero-leinr-1"}
