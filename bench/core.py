"""Benchmark the student's path from bake to green tests (issue: template core).

    python -m bench.core [--repeats 3]

Times, on this machine, with warm package caches (a student's second project;
the first download of TensorFlow depends on the network):
  - bake: cookiecutter --no-input with the defaults;
  - env: a fresh environment with the lock's packages (requirements/cpu-test.txt) and the
    project installed, with pip (python -m venv + pip install) and with uv (what nox uses);
  - tests: the generated project's pytest suite.
Prints each median and the pip/uv ratio.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness.bake import DEFAULTS, bake
from harness.processes import python_for, run
from harness.venvs import project_venv

PYTHON = python_for(DEFAULTS["python_version"][0])


def timed(action, *args, **kwargs):
    """Run ``action(*args, **kwargs)``; return (seconds, its result)."""
    start = time.perf_counter()
    result = action(*args, **kwargs)
    return time.perf_counter() - start, result


def pip_env(project: Path) -> None:
    """The README's laptop route: a venv, then the lock with pip (tests' set of extras)."""
    venv = project / ".venv-pip"
    run([PYTHON, "-m", "venv", str(venv)])
    pip = [venv / "bin" / "pip", "install", "--quiet", "--no-deps"]
    run([*pip, "--require-hashes", "-r", "requirements/cpu-test.txt"], cwd=project)
    run([*pip, "-e", "."], cwd=project)


def uv_env(project: Path) -> None:
    """The same with uv (what nox uses): harness.venvs.project_venv."""
    project_venv(project, "cpu,test", python=PYTHON)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, choices=range(1, 21), metavar="N")
    repeats = parser.parse_args().repeats
    times: dict[str, list[float]] = {"bake": [], "env (pip)": [], "env (uv)": [], "tests": []}
    with tempfile.TemporaryDirectory() as tmp:
        warm = bake(Path(tmp) / "warm")
        uv_env(warm)  # fill the caches once
        pip_env(warm)
        for i in range(repeats):
            seconds, project = timed(bake, Path(tmp) / f"run{i}")
            times["bake"].append(seconds)
            times["env (pip)"].append(timed(pip_env, project)[0])
            times["env (uv)"].append(timed(uv_env, project)[0])
            pytest = [project / ".venv" / "bin" / "python", "-m", "pytest", "-q"]
            times["tests"].append(timed(run, pytest, cwd=project)[0])
    print(f"\nmedians of {repeats} runs (seconds):")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"  {name:10s} {value:8.2f}   runs: {', '.join(f'{v:.2f}' for v in times[name])}")
    print(f"  pip / uv environment time: {medians['env (pip)'] / medians['env (uv)']:.1f}x")


if __name__ == "__main__":
    main()
