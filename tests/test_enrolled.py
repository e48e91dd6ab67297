"""Nothing is forgotten: every generated jobscript is submitted by a mini-Quest test, and
every test module runs in a nox session.

The jobscripts a test submits are read from the tests' code (``ast``, so a comment or a
string that names a script does not count): the calls of the one submit helper,
``Project.submit(cluster, "<script>", ...)`` (harness/miniquest), with the script's name
written as a literal. A new jobscript in ``{{cookiecutter.project}}/slurm/`` fails here
until a test submits it (or it is listed in ``NOT_SUBMITTED`` with the reason).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from harness.bake import TEMPLATE

JOBSCRIPTS = TEMPLATE / "{{cookiecutter.project}}" / "slurm"
TESTS = TEMPLATE / "tests"
# Scripts of the project's slurm/ that are not jobs, and where they are tested instead.
NOT_SUBMITTED = {
    "common.sh": "sourced by every jobscript (environment, banner, run_resumable), not a job",
    "setup_env.sh": "run once on a login node to make the environment, never submitted "
    "(harness.miniquest.setup_env; tests/test_quest.py, tests/test_lock.py)",
    "setup_container.sh": "run once on a login node to make the .sif with Apptainer, which "
    "cannot run here (tests/test_container_route.py runs it against a stand-in)",
}


def submitted_scripts(tests: Path) -> dict[str, list[str]]:
    """{script file name: [test module, ...]} of every ``.submit(cluster, "<name>", ...)``
    call in the test modules under ``tests``."""
    found: dict[str, list[str]] = {}
    for module in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "submit"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                found.setdefault(f"{node.args[1].value}.sh", []).append(module.name)
    return found


def unenrolled(jobscripts: Path, tests: Path) -> list[str]:
    """The jobscripts in ``jobscripts`` that no test under ``tests`` submits and that
    NOT_SUBMITTED does not list, each with what to do."""
    submitted = submitted_scripts(tests)
    return [
        f"{script.name}: no mini-Quest test submits it (Project.submit(cluster, "
        f'"{script.stem}", ...)), nor does NOT_SUBMITTED say why not'
        for script in sorted(jobscripts.glob("*.sh"))
        if script.name not in submitted and script.name not in NOT_SUBMITTED
    ]


def test_every_jobscript_is_submitted_by_a_mini_quest_test():
    assert len(list(JOBSCRIPTS.glob("*.sh"))) > len(NOT_SUBMITTED)
    assert unenrolled(JOBSCRIPTS, TESTS) == []


def test_the_scripts_not_submitted_exist_and_are_not_submitted():
    """NOT_SUBMITTED is kept current: no name of a script that is gone or now submitted."""
    scripts = {path.name for path in JOBSCRIPTS.glob("*.sh")}
    assert set(NOT_SUBMITTED) <= scripts
    assert not set(NOT_SUBMITTED) & set(submitted_scripts(TESTS))


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the jobscripts and of the test modules, to plant things in."""
    jobscripts, tests = tmp_path / "slurm", tmp_path / "tests"
    shutil.copytree(JOBSCRIPTS, jobscripts)
    tests.mkdir()
    for module in TESTS.glob("test_*.py"):
        shutil.copy(module, tests)
    assert unenrolled(jobscripts, tests) == []
    return jobscripts, tests


def test_a_planted_jobscript_no_test_submits_fails_naming_it(copies):
    jobscripts, tests = copies
    shutil.copy(jobscripts / "train.sh", jobscripts / "planted.sh")
    [problem] = unenrolled(jobscripts, tests)
    assert problem.startswith("planted.sh: no mini-Quest test submits it")


def test_a_comment_or_a_string_naming_it_does_not_enrol_it(copies):
    jobscripts, tests = copies
    shutil.copy(jobscripts / "train.sh", jobscripts / "planted.sh")
    (tests / "test_planted.py").write_text(
        '"""project.submit(cluster, "planted")"""\n\n'
        '# project.submit(cluster, "planted")\n'
        "TEXT = 'project.submit(cluster, \"planted\")'\n"
    )
    assert [p.split(":")[0] for p in unenrolled(jobscripts, tests)] == ["planted.sh"]
    (tests / "test_planted.py").write_text(
        'def test_planted(cluster, project):\n    project.submit(cluster, "planted")\n'
    )
    assert unenrolled(jobscripts, tests) == []


def test_every_test_module_runs_in_a_nox_session():
    """noxfile.py names each tests/test_*.py (as a path, or as a module name)."""
    noxfile = (TEMPLATE / "noxfile.py").read_text()
    named = {
        node.value
        for node in ast.walk(ast.parse(noxfile))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    modules = sorted(TESTS.glob("test_*.py"))
    assert modules
    missing = [
        module.name
        for module in modules
        if f"tests/{module.name}" not in named and module.stem not in named
    ]
    assert missing == [], f"in no nox session: {missing}"
