"""The README's student commands work: generate, then the project's own checks pass.

The default project's lint passes and catches what it should (its tests run as the
README says, in tests/test_readme_student.py: ``pytest``, ``nox -s tests lint`` and
``nox -s tests-all``, the slow tests included, which is what its CI runs); a project
with other names runs the ``fit`` command end to end, as a student would after
renaming everything.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from harness.bake import DEFAULTS, TEMPLATE, bake
from harness.processes import python_for, run
from harness.venvs import project_venv

PYTHON = DEFAULTS["python_version"][0]
RENAMED = {"project_name": "Density Lab", "project": "density-lab", "package": "density_lab"}


def student_env():
    """PATH with the default Python first, as on a student's machine with that Python."""
    return {"PATH": f"{Path(python_for(PYTHON)).parent}{os.pathsep}{os.environ['PATH']}"}


def project_nox(project, *sessions, check=True):
    args = ["nox", "--force-python", PYTHON, "--sessions", *sessions]
    return run(args, cwd=project, env=student_env(), check=check)


@pytest.fixture(scope="module")
def default_project(tmp_path_factory):
    """The README's generate command, with every default."""
    out = tmp_path_factory.mktemp("default")
    run(["cookiecutter", str(TEMPLATE), "--no-input", "--output-dir", str(out)])
    return out / "genai-project"


def test_default_project_passes_its_own_lint(default_project):
    """Its tests, every one, run in tests/test_readme_student.py as the README says
    (``pytest``, ``nox -s tests lint``, ``nox -s tests-all``): not a fourth time here."""
    done = project_nox(default_project, "lint")
    assert f"Session lint-{PYTHON} was successful" in done.stderr
    # lint must not have rewritten anything: a baked project is already clean.
    assert run(["git", "diff", "--name-only"], cwd=default_project).stdout == ""


def test_lint_catches_a_real_problem(default_project):
    sloppy = default_project / "src" / "genai_project" / "sloppy.py"
    sloppy.write_text("import os   \ndef f( x ):\n    return undefined_name\n")
    run(["git", "add", str(sloppy)], cwd=default_project)
    done = project_nox(default_project, "lint", check=False)
    assert done.returncode != 0
    assert "F821" in done.stdout + done.stderr  # ruff: undefined name


def test_fit_end_to_end_under_other_names(tmp_path):
    project = bake(tmp_path, **RENAMED)
    python = project_venv(project) / "python"
    png = tmp_path / "world.png"
    fit = ["fit", "--model", "gmm", "--components", "6", "--steps", "200", "--plot", png]
    done = run([python, "-m", RENAMED["package"], *fit, "--json"], cwd=project)
    report = json.loads(done.stdout)
    assert report["model"] == "gmm" and len(report["params"]["mixture_weights"]) == 6
    assert png.stat().st_size > 10_000
    # Progress goes to stderr as plain lines when stderr is not a terminal (a Slurm log).
    assert "step 200/200" in done.stderr and "\r" not in done.stderr


@pytest.fixture
def full_disk(tmp_path):
    """A small tmpfs (root mounts it), filled until it has no byte left."""
    folder = tmp_path / "full"
    folder.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", folder])
    try:
        filler = open(folder / "filler", "wb", buffering=0)  # noqa: SIM115
        with filler, pytest.raises(OSError, match="No space left"):
            while True:
                filler.write(b"x" * 4096)
        yield folder
    finally:
        run(["umount", folder])


def test_full_disk_after_the_fit_keeps_the_result(tmp_path, full_disk):
    """The plot's disk is full only when the fit is done: the result is reported all the
    same, with a message naming the location, and no half-written file is left. A report
    that cannot be written (stdout on the full disk, as train.sh sends it) goes to stderr."""
    project = bake(tmp_path / "bake")
    python = project_venv(project) / "python"
    fit = [python, "-m", "genai_project", "fit", "--model", "gaussian", "--steps", "20", "--json"]
    plot = full_disk / "plots" / "fit.png"
    plot.parent.mkdir()  # a folder (an inode) still fits; its checks pass before the fit
    done = run([*fit, "--plot", plot], cwd=project)
    assert json.loads(done.stdout)["nll"] > 0 and json.loads(done.stdout)["plot"] is None
    assert f"warning: the plot was not saved: cannot write {plot} (No space left" in done.stderr
    assert sorted(p.name for p in full_disk.rglob("*")) == ["filler", "plots"]

    result = full_disk / "result.json"
    with open(result, "w") as stdout:
        failed = subprocess.run(fit, cwd=project, stdout=stdout, stderr=subprocess.PIPE, text=True)
    assert failed.returncode == 74, failed.stderr
    assert f"error: the result could not be written to {result} (No space left" in failed.stderr
    report = json.loads(failed.stderr.split("here it is instead:\n")[1].strip().splitlines()[0])
    assert report["model"] == "gaussian" and report["nll"] > 0
    assert result.read_text() == ""  # nothing half-written


PLANTED_WORKFLOWS = {
    # actionlint: a job that needs a job that does not exist.
    "actionlint": (
        "on: push\njobs:\n  test:\n    needs: build\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo hello\n",
        'needs job "build" which does not exist',
    ),
    # zizmor: an action pinned to a tag that can be moved, not to a commit.
    "zizmor": (
        "on: push\npermissions: {}\njobs:\n  test:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v6\n        with:\n"
        "          persist-credentials: false\n",
        "unpinned-uses",
    ),
}


@pytest.mark.parametrize("linter", PLANTED_WORKFLOWS)
def test_lint_checks_every_workflow_file(default_project, linter):
    """A new workflow file with a mistake fails the project's lint (the shipped ones pass:
    test_default_project_passes_its_own_tests_and_lint)."""
    text, finding = PLANTED_WORKFLOWS[linter]
    planted = default_project / ".github" / "workflows" / f"planted-{linter}.yml"
    planted.write_text(text)
    run(["git", "add", str(planted)], cwd=default_project)
    try:
        args = ["nox", "--force-python", PYTHON, "--sessions", "lint", "--", linter]
        done = run(args, cwd=default_project, env=student_env(), check=False)
        assert done.returncode != 0
        assert finding in done.stdout + done.stderr
        assert f"planted-{linter}.yml" in done.stdout + done.stderr
    finally:
        run(["git", "rm", "--quiet", "--force", str(planted)], cwd=default_project)
