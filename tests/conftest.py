"""Fixtures shared by several test modules (import nothing from another test module).

A module's own fixture of the same name wins over one here (pytest's rule): most modules
bake their own ``project``; the ones whose jobs an unprivileged student submits name
that user ``STUDENT`` (``STUDENT_LOGIN = True``: SSH may let it in with a key) and take
``student`` and ``project`` from here.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from harness.bake import bake
from harness.miniquest import Cluster, cluster_processes, prerequisites
from harness.processes import run, unprivileged_user


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


@pytest.fixture(scope="module")
def student(request):
    """The module's ``STUDENT``: an unprivileged user with a home, like a Quest account
    (made once per machine, kept between runs)."""
    name = getattr(request.module, "STUDENT", None)
    assert name, f"{request.module.__name__} uses `student` but names no STUDENT"
    return unprivileged_user(name, login=getattr(request.module, "STUDENT_LOGIN", False))


@pytest.fixture(scope="module")
def project(workdir: Path, student) -> Path:
    """The default answers, baked into ``workdir`` and owned by the student."""
    path = bake(workdir / "bake")
    run(["chown", "-R", f"{student.pw_uid}:{student.pw_gid}", path])
    return path
