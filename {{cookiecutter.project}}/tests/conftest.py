"""Shared test helpers: run the command-line interface as a student would.

Tests marked ``@pytest.mark.slow`` (several processes that each load TensorFlow, the
notebook, long fits) are left out of a plain ``pytest`` / ``nox -s tests``, so the
everyday run answers in well under a minute. ``pytest --slow`` or ``nox -s tests-all``
runs them too; CI always does.
"""

import os
import subprocess
import sys

import pytest

PACKAGE = "{{ cookiecutter.package }}"


@pytest.fixture(scope="session")
def cli():
    """Run ``python -m <package> ARGS`` in a subprocess; return the finished process."""

    def run(*args: str, env: dict | None = None, timeout: float | None = None):
        return subprocess.run(
            [sys.executable, "-m", PACKAGE, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
            check=False,
        )

    return run


# How many slow tests a run left out (for the line at its end).
SLOW_LEFT_OUT = pytest.StashKey[int]()


def pytest_addoption(parser):
    parser.addoption(
        "--slow", action="store_true", help="also run the tests marked slow (as CI does)"
    )


def pytest_collection_modifyitems(config, items):
    """Without --slow, deselect the slow tests (and say so at the end of the run)."""
    if config.getoption("--slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)
        config.stash[SLOW_LEFT_OUT] = len(slow)


def pytest_terminal_summary(terminalreporter, config):
    left_out = config.stash.get(SLOW_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} slow test(s) not run; run everything with: nox -s tests-all"
            " (or pytest --slow)"
        )
