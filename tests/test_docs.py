"""The documentation pages exist, keep their section numbers, and every citation resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = ROOT / "docs" / "protocols.md"

# docstrings cite these numbers (the sections of the authors' protocol notes): they must not move
SECTIONS = {"0", "1", "2", "3", "4", "5", "6", "7", "8"}
SECTIONS |= {f"2.{i}" for i in range(1, 6)} | {f"3.{i}" for i in range(1, 5)}
SECTIONS |= {"4.1", "4.2"} | {f"5.{i}" for i in range(1, 8)}

_CITATION = re.compile(r"docs/protocols\.md\W{0,3}(?:§|sections?\s+)?((?:\d+(?:\.\d+)?[\s,§-]*)+)")


def _headings() -> set[str]:
    text = PROTOCOLS.read_text(encoding="utf-8")
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.M))


def test_protocols_page_keeps_the_section_numbers() -> None:
    assert _headings() == SECTIONS


def test_every_citation_of_the_protocols_page_names_a_section() -> None:
    headings = _headings()
    cited = {}
    files = [*(ROOT / "eventsep").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb")]
    for path in files:
        for match in _CITATION.finditer(path.read_text(encoding="utf-8")):
            for number in re.findall(r"\d+(?:\.\d+)?", match.group(1)):
                cited.setdefault(number, path.relative_to(ROOT))
    missing = {n: str(p) for n, p in cited.items() if n not in headings}
    assert not missing, f"cited sections not in docs/protocols.md: {missing}"


def test_readme_links_both_pages() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/architecture.md", "docs/protocols.md"):
        assert f"]({page})" in readme and (ROOT / page).is_file()
