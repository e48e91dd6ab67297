"""A client for mini-Quest (slurm/start.sh, slurm/stop.sh): start, submit, wait, read results.

Used by tests/test_quest.py, test_scaleout.py, test_own_model.py and bench/. Commands go
through helpers.run.
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

from tests.helpers import TEMPLATE, run

SCRIPTS = TEMPLATE / "slurm"
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
        return f"not installed: {', '.join(missing)} (as root: bash slurm/install.sh)"
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

    def mails(self) -> str:
        path = self.dir / "mail.log"
        return path.read_text() if path.exists() else ""


@dataclass
class JobProject:
    """A baked project with its environment (``PROJECT_ENV``) and one of its jobscripts,
    ``slurm/<script>.sh``, which keeps a job's checkpoints in ``checkpoints/<script>-<job>``
    and prints its result to ``results/<script>-<job>.json`` (as ``train.sh`` does)."""

    path: Path
    env: Path
    script: str

    def submit(self, cluster: Cluster, *args: str, options=(), export=None) -> int:
        return cluster.sbatch(
            f"slurm/{self.script}.sh",
            *args,
            cwd=self.path,
            options=options,
            export={"PROJECT_ENV": str(self.env), **(export or {})},
        )

    def checkpoints(self, job: int) -> Path:
        return self.path / "checkpoints" / f"{self.script}-{job}"

    def result(self, job: int) -> dict:
        return json.loads((self.path / "results" / f"{self.script}-{job}.json").read_text())


def log_of(project: Path, name: str, job: int, task: int | None = None) -> str:
    """A job's log, as the jobscripts name it: logs/%x-%j.out or logs/%x-%A_%a.out."""
    suffix = f"{job}_{task}" if task is not None else str(job)
    return (project / "logs" / f"{name}-{suffix}.out").read_text()


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
