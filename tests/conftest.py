"""Fixtures shared by several test modules (import nothing from another test module)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from slurm.miniquest import Cluster, cluster_processes, prerequisites


@pytest.fixture(scope="module")
def cluster():
    """A mini-Quest of the module's own, stopped (and proven stopped) afterwards."""
    why_not = prerequisites()
    if why_not:
        pytest.fail(f"mini-Quest cannot run here: {why_not}; `nox -s quest` installs Slurm")
    started = Cluster.start()
    yield started
    started.stop()
    assert cluster_processes(started.dir) == [], "mini-Quest left processes behind"


@pytest.fixture(scope="module")
def workdir():
    """A folder every user can enter (pytest's own tmp folders are private to root): the
    modules whose jobs run as an unprivileged user keep their project there."""
    path = Path(tempfile.mkdtemp(prefix="hpc-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
