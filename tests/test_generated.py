"""The README's student commands work: generate, then the project's own checks pass.

The default project's lint passes and catches what it should (its tests run as the
README says, in tests/test_readme_student.py: ``pytest``, then ``nox -s tests-all lint``,
the slow tests included, which is what its CI runs); a project
with other names runs the ``fit`` command end to end, as a student would after
renaming everything.
"""

import json
import os
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
    (``pytest``, ``nox -s tests-all lint``): not a third time here."""
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


PAGE = os.sysconf("SC_PAGE_SIZE")  # tmpfs counts its space in pages
FULL = "(No space left on device -- the disk or your quota is full"


@pytest.fixture(scope="module")
def gaussian(tmp_path_factory) -> tuple[list, Path]:
    """The default project's ``fit --model gaussian --json`` command, and its folder."""
    project = bake(tmp_path_factory.mktemp("disk"))
    python = project_venv(project) / "python"
    return [python, "-m", "genai_project", "fit", "--model", "gaussian", "--json"], project


def fit(gaussian, *args, check: bool = True) -> subprocess.CompletedProcess[str]:
    command, project = gaussian
    done = run([*command, *args], cwd=project, check=check)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def small_disk(tmp_path):
    """A small tmpfs (root mounts it): 256 KiB."""
    folder = tmp_path / "small"
    folder.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", folder])
    try:
        yield folder
    finally:
        run(["umount", folder])


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until no byte is left, then free ``leave`` pages of it again."""
    filler = disk / "filler"
    with open(filler, "ab", buffering=0) as file, pytest.raises(OSError, match="No space left"):
        while True:
            file.write(b"x" * PAGE)
    os.truncate(filler, max(0, filler.stat().st_size - leave * PAGE))


@pytest.fixture
def full_disk(small_disk):
    """The small tmpfs with no byte left."""
    fill(small_disk)
    return small_disk


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_full_disk_after_the_fit_keeps_the_result(gaussian, full_disk):
    """The plot's disk is full only when the fit is done: the result is reported all the
    same, with a message naming the location, and no half-written file is left. A report
    that cannot be written (stdout on the full disk, as train.sh sends it) goes to stderr."""
    plot = full_disk / "plots" / "fit.png"
    plot.parent.mkdir()  # a folder (an inode) still fits; its checks pass before the fit
    done = fit(gaussian, "--steps", "20", "--plot", plot)
    assert json.loads(done.stdout)["nll"] > 0 and json.loads(done.stdout)["plot"] is None
    assert f"warning: the plot was not saved: cannot write {plot} {FULL}" in done.stderr
    assert sorted(p.name for p in full_disk.rglob("*")) == ["filler", "plots"]

    result = full_disk / "result.json"
    command, project = gaussian
    with open(result, "w") as stdout:
        failed = subprocess.run(
            [*command, "--steps", "20"],
            cwd=project,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert failed.returncode == 74, failed.stderr
    assert f"error: the result could not be written to {result} {FULL}" in failed.stderr
    report = json.loads(failed.stderr.split("here it is instead:\n")[1].strip().splitlines()[0])
    assert report["model"] == "gaussian" and report["nll"] > 0
    assert result.read_text() == ""  # nothing half-written


def test_full_disk_before_a_fresh_fit_stops_it_at_once(gaussian, full_disk):
    """A fresh fit cannot record its settings: it stops before any step, names the file,
    and leaves no half-written settings file (it used to leave fit-settings.partial)."""
    folder = full_disk / "ck"
    done = fit(gaussian, "--steps", "20", "--checkpoint-dir", folder, check=False)
    assert done.returncode == 74, done.stderr
    assert f"error: cannot write {folder / 'fit-settings.json'} {FULL}" in done.stderr
    assert "nothing was saved yet: free some space and rerun" in done.stderr
    assert list(folder.iterdir()) == []


def test_full_disk_when_resuming_keeps_the_checkpoints_and_resumes_later(
    gaussian, small_disk, tmp_path
):
    """A folder of intact checkpoints on a disk with nothing free: the fit stops before any
    step with a message naming the folder and the checkpoint kept, changes no file; with
    room again, the same command resumes from it and ends as an uninterrupted fit."""
    folder = small_disk / "ck"
    fit(gaussian, "--steps", "20", "--checkpoint-every", "10", "--checkpoint-dir", folder)
    before = contents(folder)
    fill(small_disk)

    again = ["--steps", "40", "--checkpoint-every", "10", "--checkpoint-dir", folder]
    done = fit(gaussian, *again, check=False)

    assert done.returncode == 74, done.stderr
    assert f"error: cannot write {folder / 'checkpoint'} {FULL}" in done.stderr
    assert (
        "the newest intact checkpoint, ckpt-20 (step 20), is kept: free some space and "
        "rerun the same command to resume from it" in done.stderr
    )
    assert contents(folder) == before
    (small_disk / "filler").unlink()
    resumed = json.loads(fit(gaussian, *again).stdout)
    straight = fit(gaussian, *again[:4], "--checkpoint-dir", tmp_path / "straight")
    assert resumed["resumed_from_step"] == 20
    assert resumed["params"] == json.loads(straight.stdout)["params"]


def test_full_disk_during_the_fit_keeps_the_newest_intact_checkpoint(
    gaussian, small_disk, tmp_path
):
    """The disk fills between two checkpoints: the fit stops at the next one with a message,
    the older one is kept and nothing half-written is left. At the fit's last step the
    result is complete: it is reported, with a warning that its checkpoint is missing."""
    folder = small_disk / "ck"
    every = ["--checkpoint-every", "10", "--checkpoint-dir", folder]
    fit(gaussian, "--steps", "10", *every)
    checkpoint_files = {k: v for k, v in contents(folder).items() if k.startswith("ckpt-")}
    fill(small_disk, leave=1)  # room for the list of checkpoints, not for a checkpoint

    stopped = fit(gaussian, "--steps", "40", *every, check=False)
    assert stopped.returncode == 74, stopped.stderr
    assert f"error: cannot save the checkpoint of step 20 in {folder} {FULL}" in stopped.stderr
    assert "the newest intact checkpoint, ckpt-10 (step 10), is kept" in stopped.stderr
    assert stopped.stdout == ""
    left = contents(folder)
    assert sorted(left) == sorted([*checkpoint_files, "checkpoint", "fit-settings.json"])
    assert {k: left[k] for k in checkpoint_files} == checkpoint_files

    done = fit(gaussian, "--steps", "20", *every)  # the last step's checkpoint: a warning
    assert json.loads(done.stdout)["steps"] == 20
    assert "warning: the fit is complete, but cannot save the checkpoint of step 20" in done.stderr
    assert sorted(contents(folder)) == sorted(left)

    (small_disk / "filler").unlink()
    resumed = json.loads(fit(gaussian, "--steps", "40", *every).stdout)
    straight = fit(gaussian, "--steps", "40", *every[:2], "--checkpoint-dir", tmp_path / "s")
    assert resumed["resumed_from_step"] == 10
    assert resumed["params"] == json.loads(straight.stdout)["params"]


def test_full_logdir_during_the_fit_warns_and_the_fit_goes_on(gaussian, small_disk, tmp_path):
    """TensorBoard's folder fills mid-fit: a warning names it, the curves stop there (what
    was written stays readable), and the fit, its checkpoints and its result go on."""
    logs = small_disk / "logs"
    fill(small_disk, leave=1)  # a few hundred steps' values fit
    args = ["--steps", "3000", "--logdir", logs, "--checkpoint-dir", tmp_path / "ck"]
    done = fit(gaussian, *args)
    assert json.loads(done.stdout)["steps"] == 3000
    assert "warning: TensorBoard logs stop at step " in done.stderr
    assert f": cannot write in {logs} {FULL}" in done.stderr
    assert "the fit goes on, its checkpoints and result are not affected" in done.stderr
    reader = [gaussian[0][0], TEMPLATE / "tests" / "own_model" / "read_events.py", logs]
    curves = json.loads(run(reader).stdout)
    steps = [step for step, _ in curves["nll"]]
    assert steps == list(range(1, len(steps) + 1)) and 10 < len(steps) < 3000
    assert (tmp_path / "ck" / "ckpt-3000.index").is_file()


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
