"""Scale-out on mini-Quest: slurm/multiworker.sh trains one model with several workers.

One CPU project is baked and its environment made (slurm/setup_env.sh); its
multiworker.sh is then submitted as written (2 tasks on one node), with one task
(the reference), across two nodes, and twice more, all at once: one job has a worker
killed mid-run, one is warned of its time limit mid-run (the fixture `jobs`).
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest

from harness.miniquest import Project, assert_resumed, cluster_processes

ANSWERS = {"partition": "short", "gpu": "none", "gpus_per_node": "0"}
# Long enough to kill a worker after its first checkpoint; minibatches, so the
# workers' shards of each global batch (500 points -> 250 each) really differ.
FIT = ("--model", "gmm", "--components", "3", "--steps", "2000", "--batch-size", "500")
FIT += ("--checkpoint-every", "100")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return Project.with_env(tmp_path_factory.mktemp("scaleout"), **ANSWERS)


@pytest.fixture(scope="module")
def jobs(cluster, project):
    """Submit all jobs at once, as on a cluster: {name: job id}. Two are disturbed as soon
    as each has saved its first checkpoint: "killed" loses a worker (as if its node had
    crashed); "warned" gets what `--signal=B:USR1@120` sends before the time limit: USR1
    to the batch script, which passes it to srun, which passes it to every worker."""
    two_nodes = ["--partition=gengpu", "--nodes=2", "--ntasks-per-node=1"]
    submitted = {
        "two": project.submit(cluster, "multiworker", *FIT),  # as written: 2 tasks on one node
        "one": project.submit(cluster, "multiworker", *FIT, options=["--ntasks-per-node=1"]),
        "two-nodes": project.submit(cluster, "multiworker", *FIT, options=two_nodes),
        "killed": project.submit(cluster, "multiworker", *FIT),
        "warned": project.submit(cluster, "multiworker", *FIT),
    }

    def kill_worker_1(job: int) -> None:
        pid = worker_pid(cluster, job, rank=1)
        assert pid is not None, "worker 1 is not running"
        os.kill(pid, signal.SIGKILL)

    # Both start at once and run for many checkpoints: the second is still running when
    # the first has been disturbed.
    for job, disturb in ((submitted["killed"], kill_worker_1), (submitted["warned"], cluster.warn)):
        cluster.wait_for_checkpoint(job, project.checkpoints(job))
        disturb(job)
    return submitted


def worker_pid(cluster, job: int, rank: int) -> int | None:
    """The process of worker ``rank`` (srun task SLURM_PROCID) of ``job``, once it runs."""
    want = {f"SLURM_JOB_ID={job}".encode(), f"SLURM_PROCID={rank}".encode()}
    for pid in cluster_processes(cluster.dir):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if b"fit" in cmdline and b"-m" in cmdline and want <= environ:
            return pid
    return None


def assert_same_params(result: dict, reference: dict) -> None:
    # Equal up to float32 rounding (the gradient is summed in another order).
    for name, value in reference["params"].items():
        np.testing.assert_allclose(result["params"][name], value, rtol=1e-4, err_msg=name)


def test_two_workers_on_one_node(cluster, project, jobs):
    job = jobs["two"]
    cluster.wait(job)
    record = cluster.final(job)
    log = project.log(job)
    assert record["JobState"] == "COMPLETED", log
    assert "worker 0 of 2 (MultiWorkerMirroredStrategy, 2 replicas in sync)" in log
    assert "worker 1 of 2 (MultiWorkerMirroredStrategy, 2 replicas in sync)" in log
    assert f"finished: results/multiworker-{job}.json" in log
    # The workers leave together: no worker complains that another vanished.
    assert "stopped sending heartbeats" not in log and "Failed to send RPC" not in log, log
    result = project.result(job)
    assert (result["workers"], result["replicas"], result["steps"]) == (2, 2, 2000)
    # Only the chief wrote: one result, its checkpoints, nothing else.
    assert [p.name for p in (project.path / "results").glob(f"*{job}*")] == [
        f"multiworker-{job}.json"
    ]
    written = {p.name for p in project.checkpoints(job).iterdir()}
    assert written == {
        "checkpoint",
        "fit-settings.json",
        "ckpt-1900.index",
        "ckpt-1900.data-00000-of-00001",
        "ckpt-2000.index",
        "ckpt-2000.data-00000-of-00001",
    }


def test_two_workers_give_the_parameters_of_one(cluster, project, jobs):
    cluster.wait(jobs["one"], jobs["two"])
    one, two = project.result(jobs["one"]), project.result(jobs["two"])
    assert (one["workers"], one["strategy"]) == (1, "default")
    assert "worker 0 of" not in project.log(jobs["one"])
    assert_same_params(two, one)


def test_two_nodes(cluster, project, jobs):
    # mini-Quest's two GPU nodes are one machine (NodeAddr 127.0.0.1): the workers
    # reach each other through Slurm's node addresses, on ports that differ by rank.
    job = jobs["two-nodes"]
    cluster.wait(job, jobs["one"])
    log = project.log(job)
    assert cluster.final(job)["JobState"] == "COMPLETED", log
    assert "nodes:      mq-gpu[1-2]" in log
    result = project.result(job)
    assert (result["workers"], result["replicas"]) == (2, 2)
    assert_same_params(result, project.result(jobs["one"]))


def test_killed_worker_fails_the_job_and_a_resubmission_resumes(cluster, project, jobs):
    job, checkpoints = jobs["killed"], project.checkpoints(jobs["killed"])
    # No hang: srun --kill-on-bad-exit ends worker 0, the job fails (not TIMEOUT).
    cluster.wait(job)
    record = cluster.final(job)
    log = project.log(job)
    assert record["JobState"] == "FAILED", (record, log)
    assert "error: worker 0 lost contact with the other workers" in log
    where = checkpoints.relative_to(project.path)
    assert f"resume with: sbatch --export=ALL,CHECKPOINT_DIR={where} slurm/multiworker.sh" in log
    saved = max(int(p.stem.split("-")[1]) for p in checkpoints.glob("ckpt-*.index"))
    assert 0 < saved < 2000

    again = project.submit(
        cluster, "multiworker", *FIT, export={"CHECKPOINT_DIR": str(checkpoints)}
    )
    cluster.wait(again, jobs["one"])
    log = project.log(again)
    assert cluster.final(again)["JobState"] == "COMPLETED", log
    resumed = project.result(again)
    assert (resumed["resumed_from_step"], resumed["steps"], resumed["workers"]) == (saved, 2000, 2)
    assert_same_params(resumed, project.result(jobs["one"]))


def test_time_limit_warning_stops_all_workers_and_the_job_resumes(cluster, project, jobs):
    job = jobs["warned"]
    cluster.wait(jobs["one"])
    resumed, _, log = assert_resumed(cluster, project, job)
    # Both workers stopped at the same step, after the chief saved it.
    stopped = re.findall(r"interrupted at step (\d+)", log)
    assert len(stopped) == 2 and len(set(stopped)) == 1, log
    assert (resumed["resumed_from_step"], resumed["steps"]) == (int(stopped[0]), 2000)
    assert_same_params(resumed, project.result(jobs["one"]))
