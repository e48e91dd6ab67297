"""Apple Silicon, proven: the CPU devcontainer image built for linux/arm64 and run.

`nox -s arm64`. An Apple Silicon Mac's Docker runs linux/arm64 images; here they
run through qemu user emulation (harness/containers/emulation.sh sets it up, and fails
with the kernel's reason when it cannot). The generated project's
"CPU / Apple Silicon" devcontainer configuration is read, and exactly its build
(Dockerfile, context, target, args) is built with podman for linux/arm64 FROM a
local arm64 stand-in of python:3.11-slim-bookworm (harness/containers/standin-arm64.sh:
Debian 12's own Python is 3.11, the only arm64 interpreter available here).
Inside: the machine is aarch64, TensorFlow is the plain aarch64 wheel, the GPU
check explains why there is no GPU, `fit` writes its plot for every model, and
the project's fast MLE tests pass.

Emulation is slow (every instruction translated, ~25 s to load TensorFlow): the checks
share one running container, and the student commands they read run side by side.
"""

from __future__ import annotations

import json
import math
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.bake import bake
from harness.files import load_jsonc
from harness.podman import CONTAINERS, PODMAN_ENV, podman
from harness.processes import run

# `python -m PACKAGE fit ... --model M` for each model M given, in one process.
FITS = """
import sys
from {package}.cli import main
for model in sys.argv[1:]:
    args = ["fit", "--model", model, "--steps", "20", "--n", "400", "--json", "--no-progress"]
    if main([*args, "--plot", f"/tmp/fit-{{model}}.png"]) != 0:
        sys.exit(f"fit --model {{model}} failed")
"""
PYTHON_VERSION = "3.11"  # Debian 12's Python: the arm64 stand-in's interpreter
PLATFORM = "linux/arm64"
IMAGE = "localhost/arm64-test:dev"
MODELS = ["gaussian", "box", "gmm"]
# The project's MLE tests that take seconds, not minutes, under emulation
# (closed forms, densities, input checks; the long gradient-descent fits are left out).
FAST_MLE_TESTS = (
    "closed_form or integrates_to_one or nll_is_mean or refused or positive_whole or degenerate"
)


def test_emulation_failure_is_reported_not_skipped(tmp_path: Path) -> None:
    """Where the kernel refuses (here: not allowed to mount binfmt_misc), the set-up
    stops with exit code 3 and the reason, so the session fails instead of skipping."""
    unmounted = tmp_path / "binfmt_misc"
    unmounted.mkdir()
    unmounted.chmod(0o755)
    result = run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         CONTAINERS / "emulation.sh"],
        env={"BINFMT_MISC": str(unmounted)},
        check=False,
    )  # fmt: skip
    assert result.returncode == 3, result
    assert "could not mount binfmt_misc" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def emulation() -> None:
    run([CONTAINERS / "emulation.sh"])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("arm64"), python_version=PYTHON_VERSION)


@pytest.fixture(scope="module")
def image(emulation: None, project: Path) -> str:
    """Build what .devcontainer/cpu/devcontainer.json builds, for linux/arm64."""
    run([CONTAINERS / "standin-arm64.sh"], env=PODMAN_ENV)
    folder = project / ".devcontainer" / "cpu"
    build = load_jsonc((folder / "devcontainer.json").read_text())["build"]
    args = build.get("args", {})
    assert args.get("TF_VARIANT") == "cpu", f"the CPU configuration builds {args}"
    unresolved = {k: v for k, v in args.items() if "${" in v}
    assert not unresolved, f"variables this test cannot resolve: {unresolved}"
    options = ["--target", build["target"]] if "target" in build else []
    for name, value in args.items():
        options += ["--build-arg", f"{name}={value}"]
    podman(
        "build",
        "--platform",
        PLATFORM,
        "--file",
        (folder / build.get("dockerfile", "Dockerfile")).resolve(),
        *options,
        "--tag",
        IMAGE,
        (folder / build.get("context", ".")).resolve(),
    )
    return IMAGE


@pytest.fixture(scope="module")
def container(image: str):
    """One running arm64 container for all the checks; removed afterwards."""
    name = f"arm64-test-{uuid.uuid4().hex[:8]}"
    podman("run", "--detach", "--platform", PLATFORM, "--name", name, image, "sleep", "infinity")
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def package(project: Path) -> str:
    return project.name.replace("-", "_")


@pytest.fixture(scope="module")
def runs(container: str, project: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every student command the checks need, started at once in the one container.

    Each loads TensorFlow, ~25 s of emulated CPU: side by side they keep both cores busy.
    """
    module = ["python", "-m", package(project)]
    commands = {
        "gpu-check": [*module, "gpu-check", "--json", "--size", "64"],
        "require-gpu": [*module, "gpu-check", "--require-gpu", "--size", "64"],
        "mle-tests": ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "tests/test_mle.py", "-k", FAST_MLE_TESTS],
        # The three fits in one interpreter (TensorFlow loaded once), each through the
        # command line's own entry point with a student's arguments.
        "fits": ["python", "-c", FITS.format(package=package(project)), *MODELS],
    }  # fmt: skip
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        started = {
            name: pool.submit(podman, "exec", container, *command, check=False)
            for name, command in commands.items()
        }
        return {name: future.result() for name, future in started.items()}


def test_image_is_arm64(image: str, container: str) -> None:
    assert podman("image", "inspect", "--format", "{{.Architecture}}", image).stdout.strip() == (
        "arm64"
    )
    assert podman("exec", container, "uname", "-m").stdout.strip() == "aarch64"


def test_python_and_tensorflow_are_the_aarch64_builds(container: str, runs) -> None:
    report = json.loads(runs["gpu-check"].stdout)
    assert report["machine"] == "aarch64", report
    assert report["python"].startswith(f"{PYTHON_VERSION}."), report["python"]
    assert report["tensorflow"].startswith("2."), report["tensorflow"]
    listing = podman("exec", container, "uv", "pip", "list").stdout
    names = {line.split()[0] for line in listing.splitlines()[2:]}
    assert "tensorflow" in names and "tensorflow-cpu" not in names, names


def test_gpu_check_explains_why_there_is_no_gpu(runs) -> None:
    result = runs["gpu-check"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["physical_gpus"] == [] and report["build"]["is_cuda_build"] is False
    assert "Apple Silicon" in report["diagnosis"], report["diagnosis"]
    assert "cannot reach the Mac's GPU" in report["diagnosis"], report["diagnosis"]
    assert report["diagnosis"] in result.stderr  # the log a student reads says it too
    required = runs["require-gpu"]
    assert required.returncode == 3, required.stderr
    assert "Apple Silicon" in required.stderr


@pytest.mark.parametrize("model", MODELS)
def test_fit_writes_its_plot(container: str, runs, model: str, tmp_path: Path) -> None:
    fits = runs["fits"]
    assert fits.returncode == 0, fits.stderr
    results = {r["model"]: r for r in map(json.loads, fits.stdout.splitlines())}
    assert math.isfinite(results[model]["nll"]), results
    podman("cp", f"{container}:/tmp/fit-{model}.png", tmp_path / "fit.png")
    png = (tmp_path / "fit.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, len(png)


def test_fast_mle_tests_pass_under_emulation(runs) -> None:
    result = runs["mle-tests"]
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
