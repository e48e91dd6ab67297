"""A baked project's Python environment and its lock: a uv venv with the lock's packages,
and the versions an environment holds against the versions the lock names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.bake import DEFAULTS
from harness.processes import python_for, run


def project_venv(project: Path, extras: str = "cpu,test", python: str | None = None) -> Path:
    """Create ``project/.venv`` with the lock's packages for ``extras`` (its
    requirements/cpu-test.txt for "cpu,test") and the project editable; return its ``bin``.

    uv's shared cache means TensorFlow is downloaded once per machine, then linked.
    """
    venv = project / ".venv"
    interpreter = python or python_for(DEFAULTS["python_version"][0])
    # Bytecode at install, on both cores: cheaper than each first import compiling alone
    # (measured: a CI run without it was slower in `update` and `quest`).
    env = {"UV_COMPILE_BYTECODE": "1"}
    run(["uv", "venv", "--quiet", "--python", interpreter, str(venv)], env=env)
    install = ["uv", "pip", "install", "--quiet", "--python", venv / "bin" / "python", "--no-deps"]
    pins = project / "requirements" / f"{extras.replace(',', '-')}.txt"
    run([*install, "--require-hashes", "-r", pins], cwd=project, env=env)
    run([*install, "-e", "."], cwd=project, env=env)
    return venv / "bin"


# What `pip freeze` lists is compared by name as the index compares names (PEP 503).
def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# Run by the Python of an environment (a venv, an image, Quest's): the values that the
# lock's environment markers test (PEP 508), as JSON.
MARKER_PROGRAM = """import json, os, platform, sys
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": platform.python_version(),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}))"""


def locked_versions(project: Path, extras: str, environment: str) -> dict[str, str]:
    """{name: version} the lock installs for ``extras`` ("cpu-dev") in the environment
    described by ``environment`` (MARKER_PROGRAM's output): its requirements file's
    lines whose markers hold there. The project itself is not in it."""
    from packaging.markers import Marker

    values = json.loads(environment)
    text = (project / "requirements" / f"{extras}.txt").read_text()
    pins = {}
    for line in text.replace("\\\n", " ").splitlines():
        found = re.match(r"([A-Za-z0-9._-]+)==(\S+)(?:\s*;\s*([^-][^\n]*?))?\s*(?:--hash|$)", line)
        if found and (found[3] is None or Marker(found[3]).evaluate(values)):
            pins[normalized(found[1])] = found[2]
    assert pins, f"no pins read from requirements/{extras}.txt"
    return pins


# The installers an environment brings before the lock is installed (`python -m venv`'s pip,
# the image's pinned uv): not packages of the project, so not in its lock.
INSTALLERS = {"pip", "uv"}


def frozen_versions(freeze: str, project: Path) -> dict[str, str]:
    """{name: version} from `pip freeze` / `uv pip freeze` output, without the project
    itself and the INSTALLERS."""
    versions = {}
    left_out = {normalized(project.name), *INSTALLERS}
    for line in freeze.splitlines():  # also "-e ..." and "# Editable install ..." lines
        found = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip())
        if found and normalized(found[1]) not in left_out:
            versions[normalized(found[1])] = found[2]
    return versions
