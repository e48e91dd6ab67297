"""The README's student commands work: generate with defaults, then the checks pass."""

import os
from pathlib import Path

from helpers import DEFAULTS, TEMPLATE, python_for, run

PYTHON = DEFAULTS["python_version"][0]


def student_env():
    """PATH with the default Python first, as on a student's machine with that Python."""
    return {"PATH": f"{Path(python_for(PYTHON)).parent}{os.pathsep}{os.environ['PATH']}"}


def bake_like_a_student(tmp_path):
    """The README's generate command, with every default."""
    run(["cookiecutter", str(TEMPLATE), "--no-input", "--output-dir", str(tmp_path)])
    return tmp_path / "genai-project"


def project_nox(project, *sessions, check=True):
    args = ["nox", "--force-python", PYTHON, "--sessions", *sessions]
    return run(args, cwd=project, env=student_env(), check=check)


def test_default_project_passes_its_own_tests_and_lint(tmp_path):
    project = bake_like_a_student(tmp_path)
    done = project_nox(project, "tests", "lint")
    assert " passed" in done.stdout + done.stderr
    assert f"tests-{PYTHON}: success" in done.stderr
    assert f"lint-{PYTHON}: success" in done.stderr
    # lint must not have rewritten anything: a baked project is already clean.
    assert run(["git", "diff", "--name-only"], cwd=project).stdout == ""


def test_lint_catches_a_real_problem(tmp_path):
    project = bake_like_a_student(tmp_path)
    sloppy = project / "src" / "genai_project" / "sloppy.py"
    sloppy.write_text("import os   \ndef f( x ):\n    return undefined_name\n")
    run(["git", "add", str(sloppy)], cwd=project)
    done = project_nox(project, "lint", check=False)
    assert done.returncode != 0
    assert "F821" in done.stdout + done.stderr  # ruff: undefined name
