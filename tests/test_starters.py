"""The starters (`vae`, `chars`) on mini-Quest, and a project with a starter deleted.

One CPU project is baked and its environment made (slurm/setup_env.sh). Each starter is
submitted through slurm/train.sh twice (one run is warned of its time limit after its
first checkpoint, and requeues) and through slurm/multiworker.sh (2 workers), all at
once, as `fit` is in tests/test_quest.py and tests/test_scaleout.py.

What "equal" means: a resumed run equals the uninterrupted one exactly (the VAE's noise
is drawn from the step number, and every variable is checkpointed). Two workers equal
one up to float rounding for the text model (deterministic: no noise). The VAE with two
workers draws other noise (each replica draws for its half of the batch), so its
weights cannot equal one worker's: its held-out bound is compared within a margin.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.bake import bake
from harness.miniquest import Project, assert_resumed
from harness.processes import run
from harness.venvs import project_venv

ANSWERS = {"partition": "short", "gpu": "none", "gpus_per_node": "0"}
# Small, but long enough to be warned after the first checkpoint and still be running.
STARTERS = {
    "vae": ("--steps", "1500", "--checkpoint-every", "50", "--batch-size", "128"),
    "chars": (
        *("--steps", "300", "--checkpoint-every", "20", "--batch-size", "64"),
        *("--units", "32", "--window", "32", "--sample-chars", "100"),
    ),
}
#: The held-out number each starter reports (lower is better).
QUALITY = {"vae": "negative_elbo", "chars": "bits_per_char"}
#: How far 2 workers may be from 1: float rounding for chars; other noise for the VAE.
TWO_WORKERS_WITHIN = {"vae": 1.0, "chars": 1e-3}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return Project.with_env(tmp_path_factory.mktemp("starters"), **ANSWERS)


@pytest.fixture(scope="module")
def jobs(cluster, project):
    """All jobs at once: {(starter, "straight" | "warned" | "two"): job id}. "warned" gets
    USR1 (what `--signal=B:USR1@120` sends before the time limit) at its first checkpoint."""
    submitted = {}
    for name, args in STARTERS.items():
        submitted[name, "straight"] = project.submit(cluster, "train", name, *args)
        submitted[name, "warned"] = project.submit(cluster, "train", name, *args)
        submitted[name, "two"] = project.submit(cluster, "multiworker", name, *args)
    project.warn_after_checkpoint(cluster, *(submitted[name, "warned"] for name in STARTERS))
    return submitted


@pytest.mark.parametrize("name", STARTERS)
def test_a_preempted_starter_resumes_to_the_uninterrupted_result(cluster, project, jobs, name):
    job, reference = jobs[name, "warned"], jobs[name, "straight"]
    assert_resumed(cluster, project, job, reference, same=[QUALITY[name], "train_metrics"])
    # The job's pictures or sample, in a folder of its own.
    assert any((project.path / "outputs" / f"train-{job}").iterdir())


@pytest.mark.parametrize("name", STARTERS)
def test_two_workers_give_the_result_of_one(cluster, project, jobs, name):
    job, reference = jobs[name, "two"], jobs[name, "straight"]
    cluster.wait(job, reference)
    log = project.log(job)
    assert cluster.final(job)["JobState"] == "COMPLETED", log
    assert "worker 1 of 2 (MultiWorkerMirroredStrategy, 2 replicas in sync)" in log
    two, one = project.result(job), project.result(reference)
    assert (two["workers"], two["replicas"], one["workers"]) == (2, 2, 1)
    assert two[QUALITY[name]] == pytest.approx(one[QUALITY[name]], abs=TWO_WORKERS_WITHIN[name])


def deletion_commands(project: Path, starter: str) -> str:
    """The commands the project's docs/starters.md gives for deleting ``starter``."""
    text = (project / "docs" / "starters.md").read_text().split("## Deleting a starter", 1)[1]
    block = re.search(rf"# the \w+ starter \({starter}\).*?\n(.*?)\n(?:\n|```)", text, re.S)
    assert block, f"docs/starters.md gives no commands that delete {starter}"
    return block[1]


#: Imports every module of the package: one left importing a deleted starter fails here.
IMPORT_ALL = (
    "import importlib, pkgutil, sys; package = importlib.import_module(sys.argv[1]); "
    "[importlib.import_module(m.name) for m in pkgutil.walk_packages(package.__path__, "
    "sys.argv[1] + '.') if not m.name.endswith('__main__')]"
)


def test_deleting_the_starters_as_documented_leaves_a_working_project(tmp_path):
    """Each starter deleted in turn with the documented commands: every module left still
    imports, `--help` lists what is left, the tests a deletion could break pass (the CLI's,
    the notebooks', fetch-data's, the other starter's), and lint passes. (The whole fast
    suite passed too, but costs 15 minutes of CI on a loaded machine.)"""
    path = bake(tmp_path)
    python = project_venv(path) / "python"
    package = next(p.name for p in (path / "src").iterdir() if (p / "cli.py").exists())
    common = ["tests/test_cli.py", "tests/test_fetch_data.py", "tests/test_notebook.py"]
    for gone, tests in (("vae", ["tests/test_chars.py", *common]), ("chars", common)):
        run(["bash", "-euc", deletion_commands(path, gone)], cwd=path)
        assert not (path / "src" / package / gone).exists()
        assert not (path / "notebooks" / f"{gone}.ipynb").exists()
        run([python, "-c", IMPORT_ALL, package], cwd=path)
        commands = run([python, "-m", package, "--help"], cwd=path).stdout
        assert f"    {gone} " not in commands and "    fit " in commands
        pytest = [python, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider"]
        run([*pytest, *tests], cwd=path)
    assert not (path / "data" / "pride_and_prejudice.txt").exists()
    run(["git", "add", "--all"], cwd=path)
    run(["pre-commit", "run", "--all-files", "--show-diff-on-failure"], cwd=path)
