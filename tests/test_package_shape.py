"""The student's package, read as a week-one student and as a maintainer read it.

The lesson (the files the README's "The lesson and the machinery" names) reads in one
sitting: at most 400 lines together, and no strategy, replica or checkpoint word in
its code. Everywhere in the package: no function over 40 lines (argparse
declarations aside) or with more than 8 parameters; imports go one way (the lesson
never imports the machinery or a command, the machinery never imports the lesson or
a command, nothing imports the command line) and never in a circle; no block of six
lines is written twice. CONTRIBUTING.md, "The starter package", states these rules.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from harness.bake import bake
from harness.graphs import loops

LESSON_LINES = 400
FUNCTION_LINES = 40
PARAMETERS = 8
ARGPARSE_ONLY = {"add_parser", "add_arguments"}  # long lists of flags, nothing else
MACHINERY_WORDS = re.compile(r"strateg|replica|checkpoint", re.I)
REPEAT = 6  # lines
SKIPPED = re.compile(r"#|import |from \S+ import ")  # comments and imports are not code blocks


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("shape")) / "src" / "genai_project"


def modules(package: Path) -> dict[str, Path]:
    """Every module by its dotted name inside the package ("trainer.loop")."""
    return {
        ".".join(path.relative_to(package).with_suffix("").parts): path
        for path in sorted(package.rglob("*.py"))
    }


def lesson_files(package: Path) -> list[Path]:
    readme = (package.parents[1] / "README.md").read_text()
    paragraph = readme.split("**The lesson**", 1)[1].split("**The machinery**", 1)[0]
    names = re.findall(r"`([\w/]+\.py)`", paragraph)
    assert names, "the README names the lesson's files"
    return [package / name for name in names]


def test_the_lesson_reads_in_one_sitting(package):
    files = lesson_files(package)
    lines = {path.name: len(path.read_text().splitlines()) for path in files}
    assert sum(lines.values()) <= LESSON_LINES, lines
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                docstring = ast.get_docstring(node) is not None
                body = ast.unparse(node.body[docstring:])  # code, not the docstring's prose
                assert not MACHINERY_WORDS.search(body), f"{path.name}: {node.name}"


def test_functions_are_short_and_take_few_parameters(package):
    for name, path in modules(package).items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            where = f"{name}.{node.name}"
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
            assert len([n for n in names if n not in ("self", "cls")]) <= PARAMETERS, where
            if node.name not in ARGPARSE_ONLY:
                assert node.end_lineno - node.lineno + 1 <= FUNCTION_LINES, where


def imports(package: Path) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, relative imports resolved."""
    found = modules(package)
    graph = defaultdict(set)
    for name, path in found.items():
        here = name.split(".")[:-1]  # the package the module is in
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = here[: len(here) - node.level + 1] + (node.module or "").split(".")
            base = [part for part in base if part]
            for alias in node.names:
                for target in (".".join([*base, alias.name]), ".".join(base)):
                    if target in found or f"{target}.__init__" in found:
                        graph[name].add(target if target in found else f"{target}.__init__")
                        break
    return graph


def layer(module: str) -> str:
    top = module.split(".")[0]
    if top in ("_tf", "cli_types", "outputs"):
        return "base"  # quiet TensorFlow, argparse's types, files written whole: for all
    if top in ("mle", "data", "parameters", "kmeans"):
        return "lesson"
    if top == "trainer":
        return "machinery"
    if top in ("cli", "__main__"):
        return "command line"
    return "other"


def test_imports_go_one_way(package):
    graph = imports(package)
    for module, targets in graph.items():
        for target in targets:
            pair = (layer(module), layer(target))
            assert pair[1] != "command line" or pair[0] == "command line", (module, target)
            if pair[0] in ("lesson", "machinery"):
                assert pair[1] in (pair[0], "base"), (module, target)
    edges = {(module, target): [] for module, targets in graph.items() for target in targets}
    circles = loops(edges)
    assert not circles, circles


def test_no_block_of_six_lines_is_written_twice(package):
    seen = {}
    for name, path in modules(package).items():
        lines = enumerate(path.read_text().splitlines(), start=1)
        lines = [(number, line.strip()) for number, line in lines]
        lines = [(number, line) for number, line in lines if line and not SKIPPED.match(line)]
        for i in range(len(lines) - REPEAT + 1):
            block = tuple(line for _, line in lines[i : i + REPEAT])
            here = f"{name}:{lines[i][0]}"
            assert block not in seen, f"{here} repeats {seen.get(block)}:\n" + "\n".join(block)
            seen[block] = here
