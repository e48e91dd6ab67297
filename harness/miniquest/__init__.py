"""mini-Quest: a private Slurm cluster on this machine, and its client.

Beside this file: ``install.sh`` installs Slurm and munge (the only place); ``start.sh`` and
``stop.sh`` start and stop a cluster with Quest's partitions (``slurm.conf.in``,
``gres.conf.in``, ``cgroup.conf``). Below: ``Cluster`` starts one, submits, waits (the one
Slurm wait) and reads its records; ``Project`` is a baked project whose jobscripts run
there: it makes its environment, submits, reads its jobs' logs and results. Used by the
tests' ``cluster`` fixture (tests/conftest.py), the tests of jobscripts and bench/.
Commands go through harness.processes.run.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.bake import DEFAULTS, bake
from harness.processes import python_for, run

SCRIPTS = Path(__file__).resolve().parent
# A fit of train.sh long enough to be warned after its first checkpoint and still be fitting.
LONG_FIT = ("--model", "gmm", "--components", "3", "--steps", "3000")
# Pending reasons that never clear by waiting: a job stuck on one of these is a failure.
NEVER_STARTS = {
    "PartitionConfig",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "ReqNodeNotAvail",
    "BadConstraints",
    "InvalidAccount",
    "InvalidQOS",
    "JobHeldAdmin",
    "JobHeldUser",
    "DependencyNeverSatisfied",
    "launch_failed_requeued_held",
}


def prerequisites() -> str | None:
    """Why mini-Quest cannot start here, or None if it can."""
    missing = [c for c in ("munged", "slurmctld", "slurmd", "sbatch") if shutil.which(c) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (as root: bash harness/miniquest/install.sh)"
    if os.geteuid() != 0:
        return "mini-Quest needs root (slurmd runs jobs as the submitting user)"
    return None


@dataclass
class Cluster:
    """A running mini-Quest: its directory and the environment its clients need."""

    dir: Path
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.env = {"SLURM_CONF": str(self.dir / "slurm.conf")}

    @classmethod
    def start(cls) -> Cluster:
        out = run(["bash", str(SCRIPTS / "start.sh")]).stdout
        found = re.search(r"^export MINIQUEST_DIR=(\S+)$", out, flags=re.MULTILINE)
        assert found, f"start.sh printed no MINIQUEST_DIR:\n{out}"
        return cls(Path(found[1]))

    def stop(self) -> None:
        run(["bash", str(SCRIPTS / "stop.sh"), str(self.dir)])

    def ports(self) -> list[int]:
        """The TCP ports slurmctld and the slurmd listen on."""
        conf = (self.dir / "slurm.conf").read_text()
        return [int(p) for p in re.findall(r"(?:SlurmctldPort|Port)=(\d+)", conf)]

    def sbatch(self, script: str | Path, *args: str, cwd: Path, options=(), export=None, user=None):
        """Submit ``script`` (options before it, args after it); return the job id.

        ``user``: submit as that (unprivileged) user, with its own HOME, USER and LOGNAME.
        """
        exports = "".join(f",{k}={v}" for k, v in (export or {}).items())
        cmd = ["sbatch", "--parsable", f"--export=ALL{exports}", *options, str(script), *args]
        if user is not None:
            home = pwd.getpwnam(user).pw_dir
            identity = [f"HOME={home}", f"USER={user}", f"LOGNAME={user}"]
            cmd = ["runuser", "-u", user, "--", "env", *identity, *cmd]
        out = run(cmd, cwd=cwd, env=self.env).stdout.strip()
        return int(out.split(";")[0])

    def sbatch_fails(self, script: str | Path, cwd: Path) -> subprocess.CompletedProcess:
        return run(["sbatch", "--parsable", str(script)], cwd=cwd, env=self.env, check=False)

    def queued(self, job: int) -> list[tuple[str, str]]:
        """(state, reason) of each queued piece of ``job`` (array tasks included)."""
        done = run(["squeue", "-h", "-j", str(job), "-o", "%T|%r"], env=self.env, check=False)
        if done.returncode != 0:  # purged: no longer known to squeue
            return []
        return [tuple(line.split("|", 1)) for line in done.stdout.split()]

    def wait(self, *jobs: int, poll: float = 0.5, until: Callable[[], bool] | None = None) -> bool:
        """Wait until the jobs have left the queue (False), or until ``until()`` is true
        while they are queued or as they leave (True); fail at once if one can never start.
        """
        while True:
            if until is not None and until():
                return True
            pieces = [piece for job in jobs for piece in self.queued(job)]
            if not pieces:
                return until is not None and until()  # it may have come true as they left
            stuck = [p for p in pieces if p[0] == "PENDING" and p[1] in NEVER_STARTS]
            assert not stuck, f"jobs {jobs} can never start: {stuck}"
            time.sleep(poll)

    def wait_for_checkpoint(self, job: int, checkpoints: Path, poll: float = 0.1) -> None:
        """Wait until ``job`` has saved its first checkpoint in ``checkpoints``."""
        saved = self.wait(job, poll=poll, until=lambda: any(checkpoints.glob("ckpt-*.index")))
        assert saved, "the job ended before its first checkpoint"

    def records(self, job: int) -> list[dict[str, str]]:
        """The jobcomp records of ``job`` (one per run; array tasks included), oldest first."""
        path = self.dir / "jobcomp.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        found = []
        for line in lines:
            record = dict(re.findall(r"(\w+)=(\S*)", line))
            if str(job) in (record.get("JobId"), record.get("ArrayJobId")):
                found.append(record)
        return found

    def runs(self, job: int) -> list[dict[str, str]]:
        """The records of each run of a (non-array) job: two after one requeue."""
        return [r for r in self.records(job) if r["JobId"] == str(job)]

    def final(self, job: int) -> dict[str, str]:
        """The record of the last run of a (non-array) job."""
        records = self.runs(job)
        assert records, f"no record of job {job} in {self.dir / 'jobcomp.txt'}"
        return records[-1]

    def warn(self, job: int) -> None:
        """Send what `#SBATCH --signal=B:USR1@120` sends before the time limit: USR1 to the
        batch script (which passes it on to the fit)."""
        run(["scancel", "--batch", "--signal=USR1", str(job)], env=self.env)

    def mails(self) -> str:
        path = self.dir / "mail.log"
        return path.read_text() if path.exists() else ""


def setup_env(project: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run the project's setup_env.sh with CPU TensorFlow (no multi-GB CUDA wheels): the
    one way the tests and benchmarks make a job environment. Its result is not checked."""
    env = {"PROJECT_EXTRAS": "cpu", "PYTHON": python_for(DEFAULTS["python_version"][0])}
    return run(["bash", "slurm/setup_env.sh"], cwd=project, env={**env, **settings}, check=False)


def log_of(project: Path, name: str, job: int, task: int | None = None) -> str:
    """A job's log, as the jobscripts name it: logs/%x-%j.out or logs/%x-%A_%a.out."""
    suffix = f"{job}_{task}" if task is not None else str(job)
    return (project / "logs" / f"{name}-{suffix}.out").read_text()


@dataclass
class Project:
    """A baked project whose jobscripts run on mini-Quest.

    ``export``: what each of its jobs gets in its environment (``PROJECT_ENV``, or the
    container route's ``PROJECT_CONTAINER``...); ``user``: who submits (None: root). A job
    is named as its script's ``#SBATCH --job-name`` (``%x``): its log, its result
    (``results/<name>-<job>.json``) and its checkpoints (``checkpoints/<name>-<job>``).
    """

    path: Path
    export: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    answers: dict[str, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict, repr=False)  # job -> job name

    @classmethod
    def baked(cls, root: Path, **answers: str) -> Project:
        """Bake into ``root``; its environment will be ``root/env`` (``make_env``)."""
        return cls(bake(root, **answers), {"PROJECT_ENV": str(root / "env")}, answers=answers)

    @classmethod
    def with_env(cls, root: Path, **answers: str) -> Project:
        """Bake into ``root`` and make the environment, as a student does once."""
        project = cls.baked(root, **answers)
        project.make_env()
        return project

    @property
    def env(self) -> Path:
        return Path(self.export["PROJECT_ENV"])

    def make_env(self) -> subprocess.CompletedProcess[str]:
        """Make the environment with the project's slurm/setup_env.sh (as a student does
        once on a login node); it must succeed."""
        done = setup_env(self.path, PROJECT_ENV=str(self.env))
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def submit(self, cluster: Cluster, script: str, *args: str, options=(), export=None) -> int:
        """``sbatch slurm/<script>.sh args...`` in the project; the job id.

        Write ``script`` as a literal: tests/test_jobscripts_enrolled.py reads which
        jobscripts the tests submit from these calls.
        """
        path = self.path / "slurm" / f"{script}.sh"
        named = re.search(r"^#SBATCH --job-name=(\S+)", path.read_text(), flags=re.MULTILINE)
        job = cluster.sbatch(
            f"slurm/{script}.sh",
            *args,
            cwd=self.path,
            options=options,
            export={**self.export, **(export or {})},
            user=self.user,
        )
        self.names[job] = named[1] if named else script
        return job

    def log(self, job: int, task: int | None = None) -> str:
        return log_of(self.path, self.names[job], job, task)

    def result(self, job: int) -> dict:
        return json.loads((self.path / "results" / f"{self.names[job]}-{job}.json").read_text())

    def checkpoints(self, job: int) -> Path:
        return self.path / "checkpoints" / f"{self.names[job]}-{job}"

    def warn_after_checkpoint(self, cluster: Cluster, *jobs: int) -> None:
        """Warn each of ``jobs`` as its time limit would, as soon as it has saved its first
        checkpoint: each on its own, for a short fit may end while another still starts."""
        waiting = set(jobs)

        def warn_the_saved() -> bool:
            for job in sorted(waiting):
                if any(self.checkpoints(job).glob("ckpt-*.index")):
                    cluster.warn(job)
                    waiting.discard(job)
            return not waiting

        warned = cluster.wait(*jobs, poll=0.1, until=warn_the_saved)
        assert warned, f"jobs {sorted(waiting)} ended before their first checkpoint"


def assert_resumed(
    cluster: Cluster, project: Project, job: int, reference: int | None = None, same=()
) -> tuple[dict, dict | None, str]:
    """``job`` was warned after a checkpoint: it saved, was requeued once, and its second run
    completed the fit from where the first stopped. With ``reference`` (the same fit, not
    interrupted): that one completed from step 0 with as many steps, and the results' keys
    ``same`` are equal exactly. Returns (result, the reference's result or None, log)."""
    cluster.wait(job, *([reference] if reference is not None else []))
    runs, log = cluster.runs(job), project.log(job)
    assert len(runs) == 2 and runs[-1]["JobState"] == "COMPLETED", (runs, log)
    assert f"requeueing job {job}" in log and "restarts:   1" in log, log
    resumed = project.result(job)
    assert 0 < resumed["resumed_from_step"] < resumed["steps"], resumed
    if reference is None:
        return resumed, None, log
    assert cluster.final(reference)["JobState"] == "COMPLETED", project.log(reference)
    straight = project.result(reference)
    assert (straight["resumed_from_step"], straight["steps"]) == (0, resumed["steps"])
    for key in same:
        assert resumed[key] == straight[key], key
    return resumed, straight, log


def cluster_processes(cluster_dir: Path) -> list[int]:
    """Live (non-zombie) processes started for the cluster in ``cluster_dir``."""
    marks = (f"MINIQUEST_DAEMON={cluster_dir}".encode(), f"SLURM_CONF={cluster_dir}/".encode())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(v.startswith(m) for v in environ for m in marks):
            found.append(int(proc.name))
    return found
