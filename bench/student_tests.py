"""Benchmark a student's test run: the everyday `pytest` against the whole suite.

    python -m bench.student_tests [--repeats 3] [--everyday-only]

A default project is baked and given its environment once (uv, CPU TensorFlow, as
`nox -s tests` makes it); then, alternately, `pytest` (the everyday run: the tests
marked slow are left out) and `pytest --slow` (every test: what `nox -s tests-all` and
CI run, and what a plain `pytest` ran before the split). Each run is a new process
with pytest's cache off, so nothing is carried from one run to the next. Prints the
median wall time and the median CPU time (user + system of the run and its children:
less sensitive than wall time to other work on the machine, which it does not remove).
"""

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from harness.bake import bake
from harness.processes import run
from harness.venvs import project_venv

EVERYDAY = "pytest (everyday)"
RUNS = {EVERYDAY: [], "pytest --slow (all)": ["--slow"]}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_pytest(python: Path, project: Path, extra: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, pytest's last line) of one pytest run."""
    cpu, wall = children_cpu(), time.perf_counter()
    done = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra], cwd=project)
    return time.perf_counter() - wall, children_cpu() - cpu, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, choices=range(1, 21), metavar="N")
    parser.add_argument(
        "--everyday-only", action="store_true", help="time plain `pytest` only (not --slow)"
    )
    args = parser.parse_args()
    repeats = args.repeats
    runs = {EVERYDAY: RUNS[EVERYDAY]} if args.everyday_only else RUNS
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    last: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = bake(Path(tmp))
        python = project_venv(project, "cpu,test") / "python"
        for _ in range(repeats):
            for name, extra in runs.items():  # alternately: both see the same machine
                seconds, cpu_seconds, last[name] = timed_pytest(python, project, extra)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    print(f"\nmedians of {repeats} runs (seconds):")
    for name in runs:
        print(
            f"  {name:20s} wall {statistics.median(wall[name]):7.1f}"
            f"  cpu {statistics.median(cpu[name]):7.1f}"
            f"   wall runs: {', '.join(f'{v:.1f}' for v in wall[name])}   ({last[name]})"
        )


if __name__ == "__main__":
    main()
