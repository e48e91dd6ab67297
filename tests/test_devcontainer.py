"""The generated devcontainers, built and started by the official devcontainer CLI.

`nox -s devcontainer`. `@devcontainers/cli` (npm) drives podman through
harness/containers/docker-podman (it answers the CLI's GPU probe, which podman cannot).
The project has two configurations, as VS Code's "Reopen in Container" lists them:
`.devcontainer/cpu` ("CPU / Apple Silicon") is built, started and tested inside;
`.devcontainer/gpu` ("NVIDIA GPU") is read by the CLI, its dependency step is
resolved, and its `up` is shown to ask the engine for the GPUs (this machine has
no GPU, so that container cannot start here). Containers are removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from harness.bake import bake
from harness.podman import CONTAINERS, PODMAN_ENV, podman, standin_base_image
from harness.processes import run

PYTHON_VERSION = "3.12"
STUDENT_UID = 1000  # the image's user; a student's files on a Linux laptop have their UID
DOCKER_PATH = CONTAINERS / "docker-podman"


def config_of(project: Path, which: str) -> Path:
    return project / ".devcontainer" / which / "devcontainer.json"


def devcontainer(
    command: str, *args: str, workspace: Path, config: str = "cpu", env=None, check: bool = True
):
    """Run ``devcontainer command --config <which> [options] args`` on ``workspace``,
    podman as its docker."""
    if shutil.which("devcontainer") is None:
        raise AssertionError(
            "the devcontainer CLI is missing: npm install -g @devcontainers/cli "
            "(harness/containers/setup.sh installs the pinned version)"
        )
    return run(
        [
            "devcontainer",
            command,
            "--docker-path",
            DOCKER_PATH,
            "--workspace-folder",
            workspace,
            "--config",
            config_of(workspace, config),
            *args,
        ],
        env={**PODMAN_ENV, **(env or {})},
        check=check,
    )


def outcome(result) -> dict:
    """The JSON line the CLI prints last on stdout."""
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    """A baked project opened in its CPU devcontainer; yields (folder, container id, the
    engine's command lines)."""
    standin_base_image(PYTHON_VERSION)
    project = bake(tmp_path_factory.mktemp("devcontainer"), python_version=PYTHON_VERSION)
    # These tests run as root, but a student's project belongs to the student. Give the
    # files the UID a student on Linux has (the devcontainer CLI maps other UIDs only
    # when it runs as that user itself).
    for path in [project, *project.rglob("*")]:
        os.chown(path, STUDENT_UID, STUDENT_UID, follow_symlinks=False)
    log = project.parent / "engine-cpu.log"  # every engine command of this `up`
    up = devcontainer(
        "up", "--remove-existing-container", workspace=project, env={"DOCKER_PODMAN_LOG": str(log)}
    )
    result = outcome(up)
    assert result["outcome"] == "success", up.stdout + up.stderr
    yield project, result["containerId"], log
    # Remove the container, and the CLI's image tags for this (temporary) folder; the
    # layers stay in podman's cache while other images use them.
    image = podman("inspect", "--format", "{{.ImageName}}", result["containerId"]).stdout.strip()
    podman("rm", "-f", result["containerId"], check=False)
    podman("rmi", image, image.replace("-uid:", ":"), check=False)


def exec_in(workspace, *cmd: str, check: bool = True):
    return devcontainer("exec", *cmd, workspace=workspace[0], check=check)


def test_cli_reads_the_configuration(workspace) -> None:
    """The official parser accepts the CPU configuration (comments and all)."""
    config = outcome(devcontainer("read-configuration", workspace=workspace[0]))["configuration"]
    assert config["name"] == "CPU / Apple Silicon"
    assert config["build"]["target"] == "dev" and config["build"]["args"] == {"TF_VARIANT": "cpu"}
    assert "hostRequirements" not in config and "runArgs" not in config


def test_container_started_without_a_gpu(workspace) -> None:
    """The CPU configuration asks for no GPU."""
    inspect = json.loads(podman("inspect", workspace[1]).stdout)[0]
    assert inspect["State"]["Running"]
    assert not inspect["HostConfig"].get("Devices")


def test_cpu_image_has_no_cuda_packages(workspace) -> None:
    listing = exec_in(workspace, "uv", "pip", "list").stdout
    assert re.search(r"(?m)^tensorflow-cpu\s+2\.", listing), listing
    assert not re.search(r"(?im)^nvidia-", listing), listing


def test_cli_reads_the_gpu_configuration(workspace) -> None:
    read = devcontainer("read-configuration", workspace=workspace[0], config="gpu")
    config = outcome(read)["configuration"]
    assert config["name"] == "NVIDIA GPU"
    assert config["build"]["target"] == "dev" and config["build"]["args"] == {"TF_VARIANT": "gpu"}
    assert config["runArgs"] == ["--gpus", "all"]


def test_gpu_configuration_dependency_step_resolves_cuda(workspace) -> None:
    """The GPU image's dependency step (the lock's `requirements/gpu.txt`), planned in the
    devcontainer (not downloaded: the CUDA wheels are several GB)."""
    plan = exec_in(workspace, "uv", "pip", "install", "--dry-run", "--no-deps", "--require-hashes",
                   "-r", "requirements/gpu.txt")  # fmt: skip
    text = plan.stdout + plan.stderr
    assert re.search(r"(?m)^ \+ tensorflow==2\.", text), text
    assert re.search(r"(?m)^ \+ nvidia-cudnn-cu\d+==", text), text


def test_gpu_configuration_up_asks_the_engine_for_the_gpus(workspace, tmp_path) -> None:
    """`devcontainer up` of the GPU configuration, every engine command line recorded.

    The image build is answered by tagging the CPU image (a real GPU build downloads
    several GB; bench/containers.py times it); the recorded build still carries
    TF_VARIANT=gpu. What is shown is the request: this podman accepts `--gpus` and,
    with no GPU here, starts the container without one; it is removed afterwards."""
    log = tmp_path / "engine.log"
    image = podman("inspect", "--format", "{{.Image}}", workspace[1]).stdout.strip()
    env = {"DOCKER_PODMAN_LOG": str(log), "DOCKER_PODMAN_BUILD_AS": image}
    try:
        devcontainer("up", "--remove-existing-container", workspace=workspace[0], config="gpu",
                     env=env, check=False)  # fmt: skip
    finally:
        label = f"label=devcontainer.config_file={config_of(workspace[0], 'gpu')}"
        for container in podman("ps", "-aq", "--filter", label).stdout.split():
            podman("rm", "-f", container, check=False)
    calls = [shlex.split(line) for line in log.read_text().splitlines()]
    builds = [c for c in calls if c[:1] == ["build"]]
    runs = [c for c in calls if c[:1] == ["run"]]
    assert any("TF_VARIANT=gpu" in c for c in builds), builds
    assert runs, calls
    assert any(c[i : i + 2] == ["--gpus", "all"] for c in runs for i in range(len(c))), runs
    # The CPU configuration's `up`, recorded the same way, asked for no GPU.
    cpu_calls = [shlex.split(line) for line in workspace[2].read_text().splitlines()]
    cpu_runs = [c for c in cpu_calls if c[:1] == ["run"]]
    assert cpu_runs and not any("--gpus" in c for c in cpu_runs), cpu_runs


def test_works_as_the_non_root_user_who_owns_the_workspace(workspace) -> None:
    folder = f"/workspaces/{workspace[0].name}"
    result = exec_in(workspace, "sh", "-c", f"id -un; id -u; stat -c %u {folder}; touch {folder}/x")
    assert result.stdout.split() == ["student", str(STUDENT_UID), str(STUDENT_UID)]
    assert (workspace[0] / "x").stat().st_uid == STUDENT_UID


def test_post_create_installed_the_package_editable(workspace) -> None:
    package = workspace[0].name.replace("-", "_")
    result = exec_in(workspace, "python", "-c", f"import {package}; print({package}.__file__)")
    assert result.stdout.strip() == f"/workspaces/{workspace[0].name}/src/{package}/__init__.py"


def test_post_create_installed_the_pre_commit_hook(workspace) -> None:
    hook = workspace[0] / ".git" / "hooks" / "pre-commit"
    assert hook.is_file() and "pre-commit" in hook.read_text()


def test_gpu_check_reports_no_gpu(workspace) -> None:
    package = workspace[0].name.replace("-", "_")
    result = exec_in(workspace, "python", "-m", package, "gpu-check", "--json", "--size", "64")
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["physical_gpus"] == []


def test_project_tests_pass_inside(workspace) -> None:
    result = exec_in(workspace, "python", "-m", "pytest", "--slow", "-q", "-p", "no:cacheprovider")
    assert re.search(r"\d+ passed", result.stdout), result.stdout


def test_post_create_works_for_a_student_whose_uid_is_not_1000(workspace, tmp_path) -> None:
    """On Linux, VS Code gives the container's user the host user's UID (updateRemoteUserUID)
    by building the CLI's own updateUID.Dockerfile on the image. Do that for UID 1234 (the
    CLI skips it when it runs as root, as here), then run the post-create command."""
    uid = "1234"
    cli = Path(run(["npm", "root", "--global"]).stdout.strip()) / "@devcontainers" / "cli"
    image = podman("inspect", "--format", "{{.Image}}", workspace[1]).stdout.strip()
    tag = "localhost/template-test-devcontainer:uid-1234"
    build_args = {
        "BASE_IMAGE": image,
        "REMOTE_USER": "student",
        "NEW_UID": uid,
        "NEW_GID": uid,
        "IMAGE_USER": "student",
    }
    options = [a for k, v in build_args.items() for a in ("--build-arg", f"{k}={v}")]
    podman("build", "-f", cli / "scripts" / "updateUID.Dockerfile", *options, "-t", tag, tmp_path)
    try:
        project = tmp_path / workspace[0].name
        shutil.copytree(workspace[0], project, symlinks=True)
        for path in [project, *project.rglob("*")]:
            os.chown(path, int(uid), int(uid), follow_symlinks=False)
        config = outcome(devcontainer("read-configuration", workspace=workspace[0]))
        folder = f"/workspaces/{project.name}"
        package = project.name.replace("-", "_")
        result = podman(
            "run",
            "--rm",
            "--user",
            "student",
            "-v",
            f"{project}:{folder}",
            "-w",
            folder,
            tag,
            "sh",
            "-c",
            config["configuration"]["postCreateCommand"]
            + f" && id -u && python -c 'import {package}; print({package}.__file__)'",
        )
        assert result.stdout.split()[-2:] == [uid, f"{folder}/src/{package}/__init__.py"]
    finally:
        podman("rmi", "-f", tag, check=False)
