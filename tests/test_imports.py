"""The import graph of the template's own Python (not the generated project's).

Read from the code with ``ast``: the tests and the benchmarks share one toolbox,
``harness/``, which imports neither of them; ``bench/`` never imports ``tests``; no test
module imports another; and no two top-level folders (or root modules such as
``noxfile.py``) import each other, directly or around a loop. Each rule is also shown to
fail on a tree with the mistake planted in it.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from harness.bake import TEMPLATE
from harness.graphs import loops

# Rendered by cookiecutter before they run (Jinja), so not Python until then.
NOT_PYTHON_YET = ("{{cookiecutter.project}}", "hooks")


def python_files(root: Path) -> list[Path]:
    """The template's own Python files under ``root``, outside the Jinja folders."""
    return [
        path
        for path in sorted(root.rglob("*.py"))
        if not {".git", ".nox", ".venv", "__pycache__"} & set(path.relative_to(root).parts)
        and path.relative_to(root).parts[0] not in NOT_PYTHON_YET
    ]


def imported_modules(path: Path) -> set[str]:
    """The absolute module names ``path`` imports (relative imports stay in their folder)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def unit(root: Path, path: Path) -> str:
    """The top-level folder of ``path``, or its module name for a file at the root."""
    first = path.relative_to(root).parts[0]
    return first.removesuffix(".py")


def edges(root: Path) -> dict[tuple[str, str], list[str]]:
    """{(importing unit, imported unit): [file imports module, ...]} between top-level
    units of the tree at ``root`` (imports of the standard library and packages left out)."""
    files = python_files(root)
    units = {unit(root, path) for path in files}
    found: dict[tuple[str, str], list[str]] = {}
    for path in files:
        here = unit(root, path)
        for module in sorted(imported_modules(path)):
            there = module.split(".")[0]
            if there in units and there != here:
                found.setdefault((here, there), []).append(f"{path.relative_to(root)}: {module}")
    return found


def problems(root: Path) -> list[str]:
    """What breaks the rules in the tree at ``root``; [] when nothing does."""
    graph = edges(root)
    found = [
        f"{importer}/ must not import {imported}: {where}"
        for (importer, imported), where in graph.items()
        if imported in ("tests", "bench") and importer in ("harness", "bench")
    ]
    for path in python_files(root / "tests") if (root / "tests").is_dir() else []:
        inside = [m for m in imported_modules(path) if m.split(".")[0] == "tests"]
        if inside:
            found.append(f"test modules never import each other: {path.name} imports {inside}")
    found += [f"import loop: {' -> '.join(loop)}" for loop in loops(graph)]
    return found


def test_the_template_keeps_its_import_rules():
    assert python_files(TEMPLATE / "harness") and python_files(TEMPLATE / "bench")
    assert problems(TEMPLATE) == []


def test_the_toolbox_is_imported_by_the_tests_and_the_benchmarks():
    graph = edges(TEMPLATE)
    assert ("tests", "harness") in graph and ("bench", "harness") in graph


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the template's own Python (the folders the rules are about)."""
    for folder in ("harness", "bench", "tests"):
        shutil.copytree(TEMPLATE / folder, tmp_path / folder, ignore=shutil.ignore_patterns(
            "__pycache__", "own_model"))  # fmt: skip
    shutil.copy(TEMPLATE / "noxfile.py", tmp_path)
    assert problems(tmp_path) == []
    return tmp_path


@pytest.mark.parametrize(
    ("plants", "problem"),
    [
        (
            {"bench/planted.py": "from tests.conftest import cluster"},
            "bench/ must not import tests",
        ),
        ({"harness/planted.py": "import tests.conftest"}, "harness/ must not import tests"),
        ({"harness/planted.py": "from bench import quest"}, "loop: bench -> harness -> bench"),
        ({"tests/test_planted.py": "from tests import test_bake"}, "never import each other"),
        (
            {"harness/planted.py": "import noxfile", "noxfile.py": "from harness import bake"},
            "import loop: harness -> noxfile -> harness",
        ),
    ],
    ids=["bench-tests", "harness-tests", "harness-bench", "test-test", "loop"],
)
def test_a_planted_import_is_found(tree, plants, problem):
    for file, line in plants.items():
        with (tree / file).open("a") as planted:
            planted.write(f"\n{line}\n")
    found = problems(tree)
    assert any(problem in text for text in found), found


def test_an_import_in_a_comment_or_a_string_is_not_an_import(tree):
    (tree / "bench" / "planted.py").write_text(
        '"""from tests.conftest import cluster"""\n\n# import tests\nTEXT = "import tests"\n'
    )
    assert problems(tree) == []
