"""The generated Dockerfile built for real with podman, its images run (`nox -s containers`).

The upstream base image is replaced by a local stand-in with the same name
(harness/containers/standin.sh), so the generated Dockerfile builds unchanged. Every stage
is built for the CPU variant (TF_VARIANT=cpu) from a project with the junk and secrets
students keep beside the code; the GPU check and the project's tests run inside `dev`.
code-server's own checks are in tests/test_code_server.py.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import uuid
from pathlib import Path

import pytest

from harness.bake import bake, windows_checkout
from harness.files import IGNORED, NESTED_REPOSITORY, SECRETS, add_junk
from harness.podman import build, podman
from harness.processes import run
from harness.venvs import MARKER_PROGRAM, frozen_versions, locked_versions

PYTHON_VERSION = "3.12"
IMAGE = "localhost/template-test"  # tags: base, dev, code-server, ...


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baked project, with the junk students accumulate next to the code."""
    project = bake(tmp_path_factory.mktemp("containers"), python_version=PYTHON_VERSION)
    add_junk(project)
    return project


@pytest.fixture(scope="module")
def images(project: Path) -> dict[str, str]:
    """Build every stage for the CPU variant; return {stage: build output}."""
    outputs = {}
    for stage in ("base", "dev", "code-server"):
        result = build(project, stage, f"{IMAGE}:{stage}", python=PYTHON_VERSION)
        outputs[stage] = result.stdout + result.stderr
    return outputs


def in_image(stage: str, *cmd: str, check: bool = True, user: str | None = None):
    options = ["--user", user] if user else []
    return podman("run", "--rm", *options, f"{IMAGE}:{stage}", *cmd, check=check)


def test_base_image_uses_the_pinned_python(images: dict[str, str]) -> None:
    version = in_image("base", "python", "-c", "import sys; print(sys.version_info[:2])")
    assert version.stdout.strip() == "(3, 12)"


@pytest.mark.parametrize("stage", ["base", "dev", "code-server"])
def test_images_run_as_the_non_root_user(images: dict[str, str], stage: str) -> None:
    ident = in_image(stage, "sh", "-c", 'id -u; stat -c %u /app "$VIRTUAL_ENV"; pwd').stdout.split()
    assert ident == ["1000", "1000", "1000", "/app"]


@pytest.mark.parametrize("stage", ["base", "dev"])
def test_dockerignore_keeps_junk_out(images: dict[str, str], stage: str) -> None:
    listing = in_image(stage, "find", "/app", "-path", "/app/.git", "-prune", "-o", "-print")
    files = listing.stdout.split()
    assert "/app/pyproject.toml" in files
    for junk in IGNORED:
        top = junk.split("/")[0]
        # data/ stays out, except the shipped samples (`fit --data data/world_map.csv` and
        # the `chars` starter's text work inside).
        shipped = {"/app/data", "/app/data/world_map.csv", "/app/data/pride_and_prejudice.txt"}
        allowed = shipped if top == "data" else set()
        assert not any(f.startswith(f"/app/{top}") and f not in allowed for f in files), (
            junk,
            files,
        )
    assert "/app/data/world_map.csv" in files
    assert "/app/data/pride_and_prejudice.txt" in files
    assert "/app/.git" not in files


@pytest.mark.parametrize("stage", ["base", "dev", "code-server"])
def test_dockerignore_keeps_secrets_out(images: dict[str, str], stage: str) -> None:
    files = in_image(stage, "find", "/app", "-type", "f").stdout.split()
    assert "/app/pyproject.toml" in files  # the listing works
    leaked = [secret for secret in SECRETS if f"/app/{secret}" in files]
    assert not leaked, f"in the {stage} image: {leaked}"
    assert f"/app/{NESTED_REPOSITORY['code']}" in files
    assert not [f for f in files if f.startswith("/app/vendor/lib/.git")], files


def test_no_download_cache_left_in_the_image(images: dict[str, str]) -> None:
    cached = in_image(
        "dev",
        "sh",
        "-c",
        "find /tmp/uv-cache /root/.cache /home/student/.cache -mindepth 1 2>/dev/null | head",
        user="root",
    )
    assert cached.stdout.strip() == ""


def test_cpu_variant_has_cpu_tensorflow(images: dict[str, str]) -> None:
    listing = in_image("base", "uv", "pip", "list").stdout
    assert re.search(r"(?m)^tensorflow-cpu\s+2\.", listing), listing
    assert not re.search(r"(?m)^nvidia-", listing)


def test_gpu_variant_would_bring_cuda(images: dict[str, str], project: Path) -> None:
    """TF_VARIANT=gpu installs the lock's tensorflow[and-cuda] on x86-64 (planned, not
    downloaded: the CUDA wheels are several GB), plain tensorflow on ARM. (The image holds
    no lock: the project's is mounted.)"""
    lock = ["-v", f"{project / 'requirements'}:/tmp/requirements:ro"]
    plan = podman("run", "--rm", *lock, f"{IMAGE}:base", "uv", "pip", "install", "--dry-run",
                  "--no-deps", "--require-hashes", "-r", "/tmp/requirements/gpu.txt")  # fmt: skip
    text = plan.stdout + plan.stderr
    assert re.search(r"(?m)^ \+ tensorflow==2\.", text), text
    on_x86 = platform.machine() in ("x86_64", "AMD64")
    assert bool(re.search(r"(?m)^ \+ nvidia-cudnn-cu\d+==", text)) == on_x86, text


def test_gpu_check_in_dev_reports_no_gpu_cleanly(images: dict[str, str], project: Path) -> None:
    package = project.name.replace("-", "_")
    result = in_image("dev", "python", "-m", package, "gpu-check", "--json", "--size", "64")
    report = json.loads(result.stdout)
    assert report["physical_gpus"] == [] and report["build"]["is_cuda_build"] is False
    assert "no gpu" in report["diagnosis"].lower()
    required = in_image("dev", "python", "-m", package, "gpu-check", "--require-gpu", check=False)
    assert required.returncode == 3, required.stderr


def test_project_tests_pass_in_dev(images: dict[str, str]) -> None:
    """The everyday tests; the slow ones too run in this same `dev` stage in
    tests/test_devcontainer.py (the devcontainer builds it), not twice."""
    result = in_image("dev", "python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert re.search(r"\d+ passed", result.stdout), result.stdout
    assert "slow test(s) not run" in result.stdout


def test_dev_has_the_tools(images: dict[str, str]) -> None:
    result = in_image("dev", "sh", "-c", "git --version && pre-commit --version && nox --version")
    assert "git version" in result.stdout and "pre-commit" in result.stdout


def test_dev_image_has_exactly_the_lock(images: dict[str, str], project: Path) -> None:
    """`uv pip freeze` in the dev image (the project aside) is the lock's cpu-dev set."""
    environment = in_image("dev", "python", "-c", MARKER_PROGRAM).stdout
    frozen = frozen_versions(in_image("dev", "uv", "pip", "freeze").stdout, project)
    assert frozen == locked_versions(project, "cpu-dev", environment)


def test_no_image_holds_the_lock_but_its_fingerprint(images: dict[str, str], project: Path):
    """The installs read the lock through a bind mount, and the `project` stage leaves the
    lock's text out of /app: no image holds a lock file (in /app and below it too, the dev
    image was 2.5 MB larger; in /app alone, 1.2 MB). The venv's lock.sha256 names the lock
    it was installed from: it checks out against the project's own lock."""
    podman("build", "--target", "tools", "--build-arg", "TF_VARIANT=cpu", "-t", f"{IMAGE}:tools",
           project)  # fmt: skip
    lock_files = ["find", "/", "-xdev", "(", "-name", "uv.lock", "-o", "-name", "cpu*.txt", ")"]
    for stage in ("tools", "dev", "base"):
        assert in_image(stage, *lock_files, user="root").stdout.split() == [], stage
    fingerprint = in_image("dev", "sh", "-c", 'cat "$VIRTUAL_ENV/lock.sha256"').stdout
    checked = run(["sha256sum", "-c", "-"], cwd=project, input=fingerprint)
    assert "uv.lock: OK" in checked.stdout and "requirements/cpu-dev.txt: OK" in checked.stdout


STALE_EDITS = {
    "dependency added": ("pyproject.toml", '"numpy>=1.26",', '"numpy>=1.26", "rich",'),
    "uv.lock alone": (
        "uv.lock",
        'name = "matplotlib"\nversion = "',
        'name = "matplotlib"\nversion = "0',
    ),
}


@pytest.mark.parametrize("edit", STALE_EDITS)
def test_stale_lock_stops_the_build(images: dict[str, str], project: Path, tmp_path, edit) -> None:
    """A dependency added without `nox -s lock`, or uv.lock changed alone (Dependabot's pull
    request): the build stops before installing, and says which command updates the lock.
    Every other layer of this project is in podman's cache (the images fixture): podman
    before 5.3 would reuse an install step whose bind-mounted lock changed."""
    clone = tmp_path / "stale"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns(".git", ".nox", ".venv"))
    name, old, new = STALE_EDITS[edit]
    edited = clone / name
    text = edited.read_text()
    edited.write_text(text.replace(old, new, 1))
    assert edited.read_text() != text
    result = podman(
        "build", "--target", "deps", "--build-arg", "TF_VARIANT=cpu", clone, check=False
    )
    assert result.returncode != 0
    assert "out of date" in result.stderr + result.stdout
    assert "nox -s lock" in result.stderr + result.stdout


def test_bad_tf_variant_is_refused(images: dict[str, str], project: Path) -> None:
    result = podman(
        "build", "--target", "deps", "--build-arg", "TF_VARIANT=cuda", project, check=False
    )
    assert result.returncode != 0
    assert "TF_VARIANT must be 'cpu' or 'gpu', not 'cuda'" in result.stdout + result.stderr


def build_steps(output: str) -> list[tuple[str, bool]]:
    """[(instruction, came from cache)] for every step of a podman build's output."""
    steps = re.split(r"(?m)^\[\d+/\d+\] STEP \d+/\d+: |^STEP \d+/\d+: ", output)[1:]
    return [(step.splitlines()[0], "--> Using cache" in step) for step in steps]


def test_windows_checkout_builds_and_runs(images: dict[str, str], project: Path, tmp_path) -> None:
    """A clone made as Git for Windows makes it (core.autocrlf=true) builds an image
    that runs: .gitattributes keeps LF in the Dockerfile and every script."""
    clone = windows_checkout(project, tmp_path / "clone")
    for path in [clone / "Dockerfile", *clone.glob("docker/*.sh"), *clone.glob("slurm/*.sh")]:
        assert b"\r" not in path.read_bytes(), path
    tag = f"{IMAGE}:windows-checkout"
    build(clone, "base", tag, python=PYTHON_VERSION)
    try:
        package = project.name.replace("-", "_")
        shown = podman("run", "--rm", tag, "python", "-m", package, "--help").stdout
        assert "gpu-check" in shown
    finally:
        podman("rmi", tag, check=False)


def test_source_edit_does_not_reinstall_dependencies(images: dict[str, str], project: Path) -> None:
    cli = next((project / "src").glob("*/cli.py"))
    original = cli.read_text()
    # A new line every run: podman keeps layers between runs, so a fixed edit would
    # find the layer an earlier run built and come from the cache.
    marker = f"# edited by test_source_edit {uuid.uuid4().hex}"
    cli.write_text(f"{original}{marker}\n")
    try:
        result = podman(
            "build",
            "--target",
            "dev",
            "--build-arg",
            "TF_VARIANT=cpu",
            "-t",
            f"{IMAGE}:dev-edited",
            project,
        )
    finally:
        cli.write_text(original)
    steps = build_steps(result.stdout + result.stderr)
    installs = [cached for step, cached in steps if "uv pip install --no-deps --require-" in step]
    copies = [
        cached for step, cached in steps if step.startswith("COPY") and step.endswith(" /app")
    ]
    assert installs == [True, True], steps  # runtime deps (TensorFlow) and dev tools: cached
    assert copies == [False], steps  # ...while the edited source was copied anew
    # ...and that is the only work: the files copied into the `project` stage, the lock's
    # text left out there, their copy to /app. Every other step came from the cache, and
    # the copy to /app is the last step (nothing runs after it, e.g. no reinstall).
    built = [step for step, cached in steps if not cached and not step.startswith("FROM")]
    assert built == ["COPY . /project", "RUN rm -rf /project/uv.lock /project/requirements",
                     steps[-1][0]], steps  # fmt: skip
    assert steps[-1][0].startswith("COPY --from=project") and steps[-1][0].endswith(" /app")
    edited = in_image("dev-edited", "tail", "-n1", f"/app/src/{cli.parent.name}/cli.py")
    assert marker in edited.stdout
    # The package installed before its code arrived imports the edited code.
    package = cli.parent.name
    where = in_image("dev-edited", "python", "-c", f"import {package}.cli as c; print(c.__file__)")
    assert where.stdout.strip() == f"/app/src/{package}/cli.py", where.stdout
