"""Shared test helpers: run the command-line interface as a student would."""

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
