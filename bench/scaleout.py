"""Benchmark scale-out on mini-Quest (issue: multi-GPU and multi-node training).

    python -m bench.scaleout [--repeats 3] [--batches 1000,16000]

Starts mini-Quest, bakes a CPU project and runs its slurm/setup_env.sh, then runs the
project's own trainer (``trainer.fit`` with the ``fit`` command's mixture, under the
strategy the trainer chooses from Slurm's variables)
with ``srun`` on the 8-CPU node, for each global batch B:

(a) 1 worker, batch B;  (b) 2 workers, batch B (each computes B/2);
(c) 1 worker, batch B/2: the work one of the two workers does, without talking.

Steps per second are timed inside the fit (between its step-200 and step-N callbacks,
so start-up and tracing are left out). Communication overhead per step = time per
step of (b) - time per step of (c): the same computation per worker, plus the
all-reduce of the gradients and the wait for the slower worker. The gradient
all-reduce alone is also timed (``all_reduce_ms``: 200 all-reduces of a tensor of
the gradients' size in one compiled call).

Prints medians over the repeats and a JSON line with everything. Needs root and
Slurm (``nox -s quest`` installs it); run from the template's root.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from harness.miniquest import Cluster, Project, log_of, prerequisites

ANSWERS = {"partition": "short", "gpu": "none", "gpus_per_node": "0"}

# Run by every srun task: the package's fit under the chosen strategy, timed by a
# callback; then the all-reduce alone. The chief prints one JSON line.
WORKER = r"""
import json, sys, time
from genai_bench_pkg import trainer
from genai_bench_pkg.data import world_map
from genai_bench_pkg.fit import density_builder
from genai_bench_pkg.trainer import strategy as strategies

tf = strategies.tf
batch, steps = int(sys.argv[1]), int(sys.argv[2])
strategy, is_chief = strategies.choose_strategy()
x = world_map(20000, seed=0)
marks = {}
def mark(model, step):
    marks[step] = time.perf_counter()
settings = trainer.Settings(steps=steps, batch_size=batch, checkpoint_every=100, progress=False)
model = trainer.fit(density_builder("gmm", x, 3, 0.05, 0), x, settings, callback=mark).model
first, last = 200, steps
per_step = (marks[last] - marks[first]) / (last - first)

size = sum(int(tf.size(v)) for v in model.trainable_variables)
@tf.function
def reduce_many(value):
    # The same cross-worker sum the training loop's agreement uses; unrolled (a
    # collective inside a graph while-loop is not allowed).
    for _ in range(200):
        per_replica = strategy.run(lambda v: v * 0.5, args=(value,))
        value = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    return value
reduce_many(tf.zeros([size]))  # trace and warm up
began = time.perf_counter()
reduce_many(tf.zeros([size]))
all_reduce = (time.perf_counter() - began) / 200
if is_chief:
    print(json.dumps({"ms_per_step": per_step * 1e3, "steps_per_s": 1 / per_step,
                      "all_reduce_ms": all_reduce * 1e3, "gradient_floats": size}))
"""


def measure(cluster, project: Path, env: Path, workers: int, batch: int, steps: int) -> dict:
    command = f"srun --kill-on-bad-exit=1 {env}/bin/python bench_worker.py {batch} {steps}"
    job = cluster.sbatch(
        "--wrap",
        command,
        cwd=project,
        options=[
            "--job-name=bench-scaleout",
            "--partition=short",
            "--nodes=1",
            f"--ntasks-per-node={workers}",
            "--cpus-per-task=1",
            "--output=logs/%x-%j.out",
        ],
    )
    cluster.wait(job, poll=0.1)
    log = log_of(project, "bench-scaleout", job)
    record = cluster.final(job)
    assert record["JobState"] == "COMPLETED", log
    lines = [line for line in log.splitlines() if line.startswith('{"ms_per_step"')]
    assert len(lines) == 1, log
    return json.loads(lines[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--batches", default="1000,16000", help="global batch sizes, comma-separated"
    )
    parser.add_argument("--steps", type=int, default=1200, help="steps per fit (timed from 200)")
    args = parser.parse_args()
    why_not = prerequisites()
    if why_not:
        sys.exit(f"cannot run: {why_not}")
    batches = [int(b) for b in args.batches.split(",")]

    root = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    made = Project.with_env(root, package="genai_bench_pkg", **ANSWERS)
    project, env = made.path, made.env
    (project / "bench_worker.py").write_text(WORKER)

    cluster = Cluster.start()
    results: dict[str, list[dict]] = {}
    try:
        for _ in range(args.repeats):
            for batch in batches:
                for name, workers, size in (
                    (f"B={batch} 1 worker", 1, batch),
                    (f"B={batch} 2 workers", 2, batch),
                    (f"B={batch // 2} 1 worker (half)", 1, batch // 2),
                ):
                    done = measure(cluster, project, env, workers, size, args.steps)
                    results.setdefault(name, []).append(done)
    finally:
        cluster.stop()

    print(f"{'run':<28} {'steps/s':>9} {'ms/step':>9} {'all-reduce ms':>14}")
    medians = {}
    for name, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        medians[name] = med
        print(
            f"{name:<28} {med['steps_per_s']:9.1f} {med['ms_per_step']:9.3f} "
            f"{med['all_reduce_ms']:14.3f}"
        )
    for batch in batches:
        two = medians[f"B={batch} 2 workers"]["ms_per_step"]
        half = medians[f"B={batch // 2} 1 worker (half)"]["ms_per_step"]
        one = medians[f"B={batch} 1 worker"]["ms_per_step"]
        print(
            f"B={batch}: communication overhead {two - half:.3f} ms/step "
            f"(2 workers {two:.3f} - half batch alone {half:.3f}); speed-up {one / two:.2f}x"
        )
    print(json.dumps({"repeats": args.repeats, "medians": medians, "runs": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
