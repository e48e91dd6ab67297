"""Containers: podman (Debian's) with the settings found to work on this kind of machine,
and local stand-ins for upstream base images (the scripts in harness/containers/)."""

from __future__ import annotations

import shutil
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


def build(project: Path, stage: str, tag: str, variant: str = "cpu", python: str = "3.12"):
    """Build the project's Dockerfile ``stage`` (TF_VARIANT ``variant``) as ``tag`` on the
    stand-in of python:``python``-slim-bookworm; the build's CompletedProcess."""
    standin_base_image(python)
    return podman("build", "--target", stage, "--build-arg", f"TF_VARIANT={variant}", "-t", tag,
                  project)  # fmt: skip


# Charliecloud (harness/containers/charliecloud.sh), Apptainer's stand-in.
CH_CONVERT = shutil.which("ch-convert") or "/opt/charliecloud/bin/ch-convert"


def ch_convert(image: str, out: Path, kind: str = "dir") -> Path:
    """Export podman's ``image`` with Charliecloud's ch-convert into ``out``: a directory
    image (``kind="dir"``, made readable by every user) or a SquashFS file ("squash")."""
    run([CH_CONVERT, "-i", "podman", "-o", kind, image, out], env=PODMAN_ENV)
    if kind == "dir":
        out.chmod(0o755)
    return out
