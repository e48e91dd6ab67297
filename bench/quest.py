"""Benchmark the Quest jobscripts on mini-Quest (issue: Quest jobscripts).

    python -m bench.quest [--repeats 5]

Starts mini-Quest, bakes two projects (short/no GPU and gengpu/a100) and runs their
slurm/setup_env.sh (CPU TensorFlow), then measures, with ``sbatch`` timed from the
call until the job has left the queue:

(a) the GPU-check job: to COMPLETED on the CPU project, and to FAILED (exit code 3,
    --require-gpu without a usable GPU) on the a100 project; Slurm's own queue wait
    (StartTime - SubmitTime) beside it;
(b) a sweep of 8 array tasks on the 8-CPU node, all at once (``--array=1-8%8``), and
    once one at a time (``%1``) for comparison: wall time, the most tasks running at
    the same moment, and the sum of the tasks' own run times.

Prints medians over the repeats, and a JSON line with everything. Needs root and Slurm
(``nox -s quest`` installs it); run from the template's root.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from harness.miniquest import Cluster, Project, prerequisites

PROJECTS = {
    "short-cpu": {"partition": "short", "gpu": "none", "gpus_per_node": "0"},
    "gengpu-a100": {"partition": "gengpu", "gpu": "a100", "gpus_per_node": "1"},
}


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def timed_job(cluster: Cluster, project: Project, script: str, options=()):
    """(seconds from sbatch to out of the queue, job id)."""
    start = time.perf_counter()
    job = project.submit(cluster, script, options=options)
    cluster.wait(job, poll=0.05)
    return time.perf_counter() - start, job


def most_at_once(spans):
    return max(sum(a <= t < b for a, b in spans) for t, _ in spans)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")
    why_not = prerequisites()
    if why_not:
        sys.exit(f"error: {why_not}")

    root = Path(tempfile.mkdtemp(prefix="bench-quest-"))
    made = {name: Project.with_env(root / name, **answers) for name, answers in PROJECTS.items()}

    cluster = Cluster.start()
    numbers: dict[str, list] = {}
    try:
        # A fresh cluster's first job waits a few seconds for the nodes: not counted.
        timed_job(cluster, made["short-cpu"], "gpu_check")
        for _ in range(args.repeats):
            for name, state in (("short-cpu", "COMPLETED"), ("gengpu-a100", "FAILED")):
                took, job = timed_job(cluster, made[name], "gpu_check")
                record = cluster.final(job)
                assert record["JobState"] == state, record
                numbers.setdefault(f"gpu-check {name} -> {state} s", []).append(took)
                wait = seconds(record["StartTime"]) - seconds(record["SubmitTime"])
                numbers.setdefault(f"gpu-check {name} queue wait s", []).append(wait)
        for throttle, repeats in (("%8", args.repeats), ("%1", 1)):
            for _ in range(repeats):
                array = [f"--array=1-8{throttle}"]
                took, job = timed_job(cluster, made["short-cpu"], "sweep", options=array)
                records = cluster.records(job)
                assert len(records) == 8 and {r["JobState"] for r in records} == {"COMPLETED"}
                spans = [(seconds(r["StartTime"]), seconds(r["EndTime"])) for r in records]
                numbers.setdefault(f"sweep 8 tasks {throttle} wall s", []).append(took)
                numbers.setdefault(f"sweep 8 tasks {throttle} most at once", []).append(
                    most_at_once(spans)
                )
                numbers.setdefault(f"sweep 8 tasks {throttle} sum of task run times s", []).append(
                    sum(b - a for a, b in spans)
                )
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

    print(f"medians over {args.repeats} repeats (sweep %1: 1 run)")
    for key, values in numbers.items():
        print(f"  {key:48s} {statistics.median(values):8.2f}   {[round(v, 2) for v in values]}")
    print(json.dumps({k: statistics.median(v) for k, v in numbers.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
