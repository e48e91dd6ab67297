"""Containers: podman (Debian's) with the settings found to work on this kind of machine,
and local stand-ins for upstream base images (the scripts in harness/containers/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.processes import run

# The set-up scripts and stand-ins beside this module.
CONTAINERS = Path(__file__).resolve().parent / "containers"
PODMAN_ENV = {"CONTAINERS_CONF": str(CONTAINERS / "containers.conf")}


def podman(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``podman args...`` with the template's container settings."""
    return run(["podman", *args], env=PODMAN_ENV, check=check)


def standin_base_image(python_version: str) -> str:
    """Make (once per machine) the stand-in for python:X.Y-slim-bookworm; return its name."""
    run([CONTAINERS / "standin.sh", python_version], env=PODMAN_ENV)
    return f"docker.io/library/python:{python_version}-slim-bookworm"
