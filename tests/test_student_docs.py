"""The generated README and docs/ pages, read as a student reads them.

The README keeps day one on its first screens and sends the student on to docs/ in
reading order; every link resolves; the commands a Debian or Ubuntu laptop runs say
``python3``; the Python a laptop needs is what pyproject.toml requires; tables that
hold file names stay aligned whatever the names; the hints the package prints agree
with the pages. (tests/test_readme_student.py runs the commands themselves.)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from harness.bake import bake
from harness.files import code_blocks, student_docs

MAX_README_LINES = 150


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("docs"))


def pages(project: Path) -> list[Path]:
    return [project / "README.md", *sorted((project / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_is_day_one_and_short(project):
    readme = (project / "README.md").read_text()
    assert len(readme.splitlines()) <= MAX_README_LINES
    headings = re.findall(r"^## (.+)$", readme, re.M)
    assert headings[:2] == ["Quick start", "The GPU check"], headings
    assert headings[-1] == "Where to go next"


def test_where_to_go_next_links_every_page_once(project):
    readme = (project / "README.md").read_text()
    listed = re.findall(r"\]\(docs/([\w-]+\.md)\)", readme.split("## Where to go next", 1)[1])
    assert sorted(listed) == sorted(p.name for p in (project / "docs").glob("*.md"))
    assert len(listed) == len(set(listed))
    assert listed[-1] == "troubleshooting.md"


def test_every_relative_link_resolves(project):
    for page in pages(project):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.is_file(), f"{page.name}: {target}"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
                assert anchor in {slug(h) for h in headings}, f"{page.name}: {target}"


def test_laptop_commands_say_python3_and_need_no_global_pip(project):
    blocks = "\n".join(code_blocks(student_docs(project), "bash"))
    assert not re.search(r"(?m)^\s*python -m venv", blocks)
    assert "python3 -m venv .venv" in blocks
    assert not re.search(r"(?m)^\s*pip install nox", blocks)  # nox comes with the dev extra


def test_python_a_laptop_needs_is_what_pyproject_requires(project):
    requires = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    minimum = re.fullmatch(r">=(3\.\d+)", requires["requires-python"])[1]
    assert f"Python {minimum} or newer" in (project / "README.md").read_text()


@pytest.mark.parametrize("package", ["p", "a_name_of_20_letters"])
def test_layout_block_stays_aligned(tmp_path, package):
    made = bake(tmp_path, package=package)
    text = (made / "docs" / "package.md").read_text()
    block = text.split("```\n", 2)[1]
    rows = [line for line in block.splitlines() if line and not line.startswith(" ")]
    columns = {re.search(r"\S {2,}(?=\S)", row).end() for row in rows}  # where text begins
    assert len(columns) == 1, block
    assert re.search(rf"^src/{package}/ +the package", block, re.M), block


def test_scp_to_project_space_makes_the_folder_first(project):
    for block in code_blocks(student_docs(project), "bash"):
        for folder in re.findall(r"^scp \S+ \S+:(/projects/\S+)/$", block, re.M):
            before = block.split("scp ", 1)[0]
            assert f"mkdir -p {folder}" in before, block


def test_gpu_check_hint_is_the_troubleshooting_pages(project):
    command = (
        "python3 -m venv .venv-gpu && . .venv-gpu/bin/activate && pip install --no-deps "
        "--require-hashes -r requirements/gpu-dev.txt && pip install --no-deps -e ."
    )
    # Python's adjacent string literals, joined as Python joins them.
    source = re.sub(r'"\s*\n\s*"', "", next(project.glob("src/*/gpu_check.py")).read_text())
    assert command in source
    assert command in (project / "docs" / "troubleshooting.md").read_text()
