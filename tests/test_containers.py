"""The generated Dockerfile and devcontainer.json, built and run for real with podman.

`nox -s containers`. The upstream base image is replaced by a local stand-in with
the same name (tests/containers/standin.sh), so the generated Dockerfile builds unchanged.
Every stage is built for the CPU variant (TF_VARIANT=cpu); the GPU check and the
project's tests run inside `dev`; code-server is started, logged into, and
screenshotted with headless Chromium (artifacts/code-server.png).
"""

from __future__ import annotations

import http.client
import json
import platform
import re
import shutil
import socket
import tempfile
import urllib.parse
import uuid
from pathlib import Path

import pytest

from tests.helpers import (
    MARKER_PROGRAM,
    TEMPLATE,
    bake,
    chromium,
    code_server_login,
    free_port,
    frozen_versions,
    load_jsonc,
    locked_versions,
    podman,
    run,
    standin_base_image,
    student_docs,
    wait_for_http,
    windows_checkout,
)

PYTHON_VERSION = "3.12"
IMAGE = "localhost/template-test"  # tags: base, dev, code-server, ...
ARTIFACTS = TEMPLATE / "artifacts"
# Junk that .dockerignore must keep out of every image.
IGNORED = [".venv/lib/junk.py", "logs/job-1.out", "checkpoints/ckpt-1.index", "data/big.npy"]
# Secrets students keep next to the code: out of git, out of every image.
SECRETS = [
    ".env",
    "code-server.env",
    "config/.env.local",
    ".netrc",
    ".ssh/id_ed25519",
    "id_rsa",
    "certs/server.pem",
    "certs/server.key",
    ".git-credentials",
    ".pypirc",
    "kaggle.json",
    ".kaggle/kaggle.json",
    "putty.ppk",
    ".aws/credentials",
    "credentials.json",
    ".docker/config.json",
    ".dockercfg",
    ".npmrc",
    ".pgpass",
    ".config/gh/hosts.yml",
    "token.txt",
    "secrets.yaml",
    ".gnupg/secring.gpg",
    "secring.gpg",
    "release.jks",
    ".jupyter/jupyter_server_config.json",
    "notebooks/.aws/credentials",  # anywhere in the project, not only at its top
]
# A repository cloned inside the project: its code goes into the image, its .git does not.
NESTED_REPOSITORY = {"code": "vendor/lib/lib.py", "git": "vendor/lib/.git/config"}
PRIVATE_KEY = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"


# --------------------------------------------------------------------------
# devcontainer.json: JSON with comments, and the spec's rules that matter here.


def devcontainer_problems(config: dict, folder: Path, gpu_config: bool = False) -> list[str]:
    """What is wrong with a devcontainer.json, by the spec's rules that bite students.

    Only the NVIDIA GPU configuration (``gpu_config``) asks Docker for the GPUs."""
    problems = []
    gpu = config.get("hostRequirements", {}).get("gpu", False)
    if not (isinstance(gpu, bool) or gpu == "optional" or isinstance(gpu, dict)):
        problems.append(f"hostRequirements.gpu: {gpu!r} is not true, false, 'optional' or {{...}}")
    run_args = config.get("runArgs", [])
    for arg in run_args:
        if not isinstance(arg, str):
            problems.append(f"runArgs entries must be strings: {arg!r}")
        elif re.match(r"--gpus ", arg):
            problems.append(
                f"runArgs {arg!r}: one string is passed as one argument; "
                'write "--gpus", "all" as two entries'
            )
    asks_gpu = any(isinstance(a, str) and a.startswith("--gpus") for a in run_args)
    if asks_gpu and not gpu_config:
        problems.append(
            "runArgs --gpus: a hard GPU request fails on machines without one; "
            "only the NVIDIA GPU configuration may ask for it"
        )
    if gpu_config and run_args[-2:] != ["--gpus", "all"]:
        problems.append('the GPU configuration must ask Docker for the GPUs: "--gpus", "all"')
    build = config.get("build")
    if build is None and "image" not in config:
        problems.append("neither build nor image is set")
    if build is not None:
        dockerfile = folder / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            problems.append(f"build.dockerfile {dockerfile} does not exist")
        elif "target" in build:
            stages = re.findall(r"(?im)^FROM\s+\S+\s+AS\s+(\S+)", dockerfile.read_text())
            if build["target"] not in stages:
                problems.append(f"build.target {build['target']!r} is not a stage of {stages}")
        if not (folder / build.get("context", ".")).is_dir():
            problems.append(f"build.context {build.get('context')!r} is not a folder")
        if not all(isinstance(v, str) for v in build.get("args", {}).values()):
            problems.append("build.args values must be strings")
    for key in ("postCreateCommand", "postStartCommand", "onCreateCommand"):
        if key in config and not isinstance(config[key], str | list | dict):
            problems.append(f"{key} must be a string, list or object")
    return problems


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baked project, with the junk students accumulate next to the code."""
    project = bake(tmp_path_factory.mktemp("containers"), python_version=PYTHON_VERSION)
    for junk in IGNORED + SECRETS + list(NESTED_REPOSITORY.values()):
        (project / junk).parent.mkdir(parents=True, exist_ok=True)
        (project / junk).write_text("must not be in the image\n")
    return project


def devcontainer_configs(project: Path) -> dict[str, Path]:
    return {
        "gpu": project / ".devcontainer" / "gpu" / "devcontainer.json",
        "cpu": project / ".devcontainer" / "cpu" / "devcontainer.json",
        "template": TEMPLATE / ".devcontainer" / "devcontainer.json",
    }


@pytest.mark.parametrize("which", ["gpu", "cpu", "template"])
def test_devcontainer_json_follows_the_spec(project: Path, which: str) -> None:
    path = devcontainer_configs(project)[which]
    config = load_jsonc(path.read_text())
    assert devcontainer_problems(config, path.parent, gpu_config=which == "gpu") == []
    extensions = config["customizations"]["vscode"]["extensions"]
    assert {"ms-python.python", "charliermarsh.ruff"} <= set(extensions)


def test_template_devcontainer_stays_one_configuration() -> None:
    config = load_jsonc((TEMPLATE / ".devcontainer" / "devcontainer.json").read_text())
    assert config["hostRequirements"]["gpu"] == "optional"
    assert not list((TEMPLATE / ".devcontainer").glob("*/devcontainer.json"))


def test_generated_devcontainer_json_two_configurations(project: Path) -> None:
    """VS Code's "Reopen in Container" lists every .devcontainer/<name>/devcontainer.json."""
    found = sorted(p.parent.name for p in (project / ".devcontainer").glob("*/devcontainer.json"))
    assert found == ["cpu", "gpu"]
    assert not (project / ".devcontainer" / "devcontainer.json").exists()
    configs = {k: load_jsonc(p.read_text()) for k, p in devcontainer_configs(project).items()}
    assert configs["gpu"]["name"] == "NVIDIA GPU"
    assert configs["cpu"]["name"] == "CPU / Apple Silicon"
    for which, variant in (("gpu", "gpu"), ("cpu", "cpu")):
        config = configs[which]
        assert config["build"] == {
            "dockerfile": "../../Dockerfile",
            "context": "../..",
            "target": "dev",
            "args": {"TF_VARIANT": variant},
        }
        assert "ms-toolsai.jupyter" in config["customizations"]["vscode"]["extensions"]
        assert config["remoteUser"] not in ("root", "0")
        assert "pip install --no-deps -e ." in config["postCreateCommand"]  # deps: the lock
        assert "pre-commit install" in config["postCreateCommand"]
    assert configs["gpu"]["runArgs"] == ["--gpus", "all"]
    assert "runArgs" not in configs["cpu"] and "hostRequirements" not in configs["cpu"]
    # Apart from the name, the TensorFlow variant and the GPU request they are the same.
    drop = ("name", "build", "runArgs")
    assert {k: v for k, v in configs["gpu"].items() if k not in drop} == {
        k: v for k, v in configs["cpu"].items() if k not in drop
    }


@pytest.mark.parametrize(
    "change, complaint",
    [
        ({"hostRequirements": {"gpu": "maybe"}}, "hostRequirements.gpu"),
        ({"runArgs": ["--gpus all"]}, "one string is passed as one argument"),
        ({"runArgs": ["--gpus=all"]}, "hard GPU request"),
        ({"runArgs": ["--gpus", "all"]}, "only the NVIDIA GPU configuration"),
        (
            {"build": {"dockerfile": "../../Dockerfile", "context": "../..", "target": "nope"}},
            "nope",
        ),
        ({"build": {"dockerfile": "../../Missing", "context": "../.."}}, "does not exist"),
        (
            {"build": {"dockerfile": "../../Dockerfile", "context": "../..", "args": {"A": 1}}},
            "strings",
        ),
    ],
)
def test_devcontainer_check_catches_mistakes(project: Path, change: dict, complaint: str) -> None:
    path = devcontainer_configs(project)["cpu"]
    config = {**load_jsonc(path.read_text()), **change}
    problems = devcontainer_problems(config, path.parent)
    assert any(complaint in p for p in problems), problems


def test_devcontainer_check_wants_the_gpu_request_in_the_gpu_configuration(project: Path) -> None:
    path = devcontainer_configs(project)["gpu"]
    config = {k: v for k, v in load_jsonc(path.read_text()).items() if k != "runArgs"}
    problems = devcontainer_problems(config, path.parent, gpu_config=True)
    assert any("must ask Docker for the GPUs" in p for p in problems), problems


def test_jsonc_keeps_slashes_inside_strings() -> None:
    text = '{"a": "http://x//y", // comment\n /* block\n */ "b": "/*not*/"}'
    assert load_jsonc(text) == {"a": "http://x//y", "b": "/*not*/"}


# --------------------------------------------------------------------------
# Static checks of the Dockerfiles.


@pytest.mark.parametrize("which", ["generated", "template"])
def test_hadolint_has_no_findings(project: Path, which: str) -> None:
    dockerfile = {
        "generated": project / "Dockerfile",
        "template": TEMPLATE / ".devcontainer" / "Dockerfile",
    }[which]
    result = run(["hadolint", "--no-color", dockerfile], check=False)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_code_server_never_runs_without_auth(project: Path) -> None:
    """No file that runs code-server, and no command the README or docs/ give, turns auth off."""
    readme = student_docs(project)
    commands = {"README code blocks": "".join(re.findall(r"```.*?```", readme, re.S))}
    for path in [project / "Dockerfile", *(project / "docker").iterdir()]:
        commands[str(path)] = path.read_text()
    for where, text in commands.items():
        assert not re.search(r"--auth[ =]+none", text), where
    assert "--auth password" in (project / "docker" / "start-code-server.sh").read_text()


def test_readme_publishes_code_server_on_localhost_only(project: Path) -> None:
    readme = student_docs(project)
    runs = [line for line in readme.splitlines() if re.search(r"\b(docker|podman) run\b", line)]
    published = [p for line in runs for p in re.findall(r"(?:-p|--publish)[ =](\S+)", line)]
    assert published, "the README shows no `docker run -p ...` for code-server"
    assert all(p.startswith("127.0.0.1:") for p in published), published


# --------------------------------------------------------------------------
# Real builds with podman.


@pytest.fixture(scope="module")
def images(project: Path) -> dict[str, str]:
    """Build every stage for the CPU variant; return {stage: build output}."""
    standin_base_image(PYTHON_VERSION)
    outputs = {}
    for stage in ("base", "dev", "code-server"):
        result = podman(
            "build",
            "--target",
            stage,
            "--build-arg",
            "TF_VARIANT=cpu",
            "-t",
            f"{IMAGE}:{stage}",
            project,
        )
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


def test_gitignore_keeps_secrets_out(project: Path) -> None:
    checked = run(
        ["git", "check-ignore", "--no-index", *SECRETS, "pyproject.toml"], cwd=project, check=False
    ).stdout.split()
    assert "pyproject.toml" not in checked  # it can tell
    assert sorted(checked) == sorted(SECRETS)


def test_pre_commit_detects_a_private_key(tmp_path: Path) -> None:
    """The generated pre-commit config refuses a commit that adds a private key."""
    project = bake(tmp_path, python_version=PYTHON_VERSION)
    hook = ["pre-commit", "run", "detect-private-key", "--all-files"]
    assert run(hook, cwd=project, check=False).returncode == 0  # clean project: passes
    (project / "deploy_key").write_text(PRIVATE_KEY)
    run(["git", "add", "deploy_key"], cwd=project)
    found = run(hook, cwd=project, check=False)
    assert found.returncode == 1 and "deploy_key" in found.stdout


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


def test_gpu_variant_would_bring_cuda(images: dict[str, str]) -> None:
    """TF_VARIANT=gpu installs the lock's tensorflow[and-cuda] on x86-64 (planned, not
    downloaded: the CUDA wheels are several GB), plain tensorflow on ARM."""
    plan = in_image("base", "uv", "pip", "install", "--dry-run", "--no-deps", "--require-hashes",
                    "-r", "requirements/gpu.txt")  # fmt: skip
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
    result = in_image("dev", "python", "-m", "pytest", "--slow", "-q", "-p", "no:cacheprovider")
    assert re.search(r"\d+ passed", result.stdout), result.stdout


def test_dev_has_the_tools(images: dict[str, str]) -> None:
    result = in_image("dev", "sh", "-c", "git --version && pre-commit --version && nox --version")
    assert "git version" in result.stdout and "pre-commit" in result.stdout


def test_dev_image_has_exactly_the_lock(images: dict[str, str], project: Path) -> None:
    """`uv pip freeze` in the dev image (the project aside) is the lock's cpu-dev set."""
    environment = in_image("dev", "python", "-c", MARKER_PROGRAM).stdout
    frozen = frozen_versions(in_image("dev", "uv", "pip", "freeze").stdout, project)
    assert frozen == locked_versions(project, "cpu-dev", environment)


def test_stale_lock_stops_the_build(images: dict[str, str], project: Path, tmp_path) -> None:
    """A dependency added without `nox -s lock`: the build stops before installing, and
    says which command updates the lock."""
    clone = tmp_path / "stale"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns(".git", ".nox", ".venv"))
    pyproject = clone / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"numpy>=1.26",', '"numpy>=1.26", "rich",', 1)
    )
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
    podman("build", "--target", "base", "--build-arg", "TF_VARIANT=cpu", "-t", tag, clone)
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
    copies = [cached for step, cached in steps if step.startswith("COPY") and " . /app" in step]
    assert installs == [True, True], steps  # runtime deps (TensorFlow) and dev tools: cached
    assert copies == [False], steps  # ...while the edited source was copied anew
    # ...and that copy is the only work: every other step came from the cache, and the
    # copy is the last step (nothing runs after it, e.g. no reinstall of the package).
    built = [step for step, cached in steps if not cached and not step.startswith("FROM")]
    assert built == [steps[-1][0]], steps
    assert steps[-1][0].startswith("COPY") and " . /app" in steps[-1][0], steps
    edited = in_image("dev-edited", "tail", "-n1", f"/app/src/{cli.parent.name}/cli.py")
    assert marker in edited.stdout
    # The package installed before its code arrived imports the edited code.
    package = cli.parent.name
    where = in_image("dev-edited", "python", "-c", f"import {package}.cli as c; print(c.__file__)")
    assert where.stdout.strip() == f"/app/src/{package}/cli.py", where.stdout


# --------------------------------------------------------------------------
# code-server: healthz, login, screenshot.


def request(port: int, method: str, path: str, body: dict | None = None, cookie: str = ""):
    """One request to 127.0.0.1:port without following redirects; (status, headers, text)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    result = response.status, dict(response.getheaders()), response.read().decode()
    connection.close()
    return result


def env_file(env: dict[str, str]) -> Path:
    """A private --env-file, as the README makes it: values never on a command line."""
    directory = Path(tempfile.mkdtemp(prefix="code-server-env-"))
    path = directory / "code-server.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return path


def start_code_server(env: dict[str, str], network: str = "") -> tuple[str, int]:
    """Run the code-server image as the README says (127.0.0.1 only); wait for /healthz.

    With ``network="host"`` it shares the host's network and is left to its default.
    """
    port = free_port()
    if network == "host":
        options = ["--network", "host", "-e", f"PORT={port}"]
    else:
        options = ["-p", f"127.0.0.1:{port}:8080", "-e", "CODE_SERVER_LISTEN=all"]
    name = podman(
        "run", "-d", "--env-file", env_file(env), *options, f"{IMAGE}:code-server"
    ).stdout.strip()

    def running() -> bool:
        return podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"

    if wait_for_http(port, "/healthz", alive=running):  # bounded: 600 asks, 0.5 s apart
        return name, port
    logs = podman("logs", name, check=False)
    podman("rm", "-f", name, check=False)
    raise AssertionError(f"code-server did not answer /healthz\n{logs.stdout}{logs.stderr}")


@pytest.fixture(scope="module")
def code_server(images: dict[str, str]):
    password = "correct horse battery staple"
    name, port = start_code_server({"PASSWORD": password})
    yield name, port, password
    podman("rm", "-f", name, check=False)


def login(port: int, password: str):
    return request(port, "POST", "/login", {"password": password, "base": ".", "href": ""})


def test_code_server_is_published_on_localhost_only(code_server) -> None:
    name, port, _ = code_server
    assert podman("port", name).stdout.split() == ["8080/tcp", "->", f"127.0.0.1:{port}"]


def test_code_server_runs_under_an_init(code_server) -> None:
    name, _, _ = code_server
    assert podman("exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini"


def test_code_server_healthz(code_server) -> None:
    status, _, text = request(code_server[1], "GET", "/healthz")
    assert status == 200 and "status" in json.loads(text)


def test_code_server_sends_strangers_to_login(code_server) -> None:
    status, headers, _ = request(code_server[1], "GET", "/")
    assert status == 302 and headers["Location"].endswith("/login")


def test_code_server_refuses_a_wrong_password(code_server) -> None:
    status, headers, text = login(code_server[1], "wrong password")
    assert status == 200 and "Set-Cookie" not in headers
    assert "Incorrect password" in text


def test_code_server_accepts_the_password_and_opens_the_editor(code_server) -> None:
    """Log in with headless Chromium and keep a screenshot of the editor."""
    _, port, password = code_server
    status, headers, _ = login(port, password)
    assert status == 302 and "code-server-session=" in headers["Set-Cookie"]

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "code-server.png"
    with chromium() as browser:
        page = code_server_login(browser, port, password)
        explorer = page.wait_for_selector(".explorer-folders-view", timeout=180_000)
        page.wait_for_selector(".explorer-folders-view >> text=pyproject.toml", timeout=60_000)
        page.screenshot(path=screenshot)
        assert "pyproject.toml" in explorer.inner_text()
    print(f"screenshot: {screenshot}")


def test_code_server_prints_its_generated_password_and_stops_cleanly(images) -> None:
    name, port = start_code_server({})
    try:
        logs = podman("logs", name).stdout
        password = re.search(r"code-server password: (\S+)", logs)[1]
        assert login(port, password)[0] == 302
        podman("stop", "-t", "30", name)
        # tini passes SIGTERM on: code-server exits by itself (137 would be a SIGKILL)
        assert podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        podman("rm", "-f", name, check=False)


def test_the_password_is_on_no_command_line(code_server) -> None:
    """In the container and on the host: every process's command line is free of it."""
    name, _, password = code_server
    script = 'for p in /proc/[0-9]*; do tr "\\0" " " < "$p/$0"; echo; done'
    inside = podman("exec", name, "sh", "-c", script, "cmdline").stdout
    assert "code-server" in inside and password not in inside
    host = run(["ps", "-eo", "args"]).stdout
    assert password not in host
    # The scan would see it: it is in code-server's environment, readable by its user only.
    assert f"PASSWORD={password}" in podman("exec", name, "sh", "-c", script, "environ").stdout


def test_readme_password_file_is_private_and_made_without_a_command_line(
    project: Path, tmp_path: Path
) -> None:
    readme = student_docs(project)
    runs = [line for line in readme.splitlines() if re.search(r"\b(docker|podman) run\b", line)]
    assert not [line for line in runs if re.search(r"(-e|--env)[ =]PASSWORD=", line)], runs
    make = next(line for line in readme.splitlines() if "> code-server.env" in line)
    run(["bash", "-c", make], cwd=tmp_path, input="s3cret pass\n")
    made = tmp_path / "code-server.env"
    assert made.read_text() == "PASSWORD=s3cret pass\n"
    assert made.stat().st_mode & 0o777 == 0o600


def listening_addresses(port: int) -> list[str]:
    """Addresses with a TCP socket listening on ``port`` in this network namespace."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.append(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_code_server_listens_on_loopback_when_sharing_the_host_network(images) -> None:
    """As under Apptainer (host networking by default): only 127.0.0.1 of the host."""
    name, port = start_code_server({"PASSWORD": "x" * 20}, network="host")
    try:
        assert listening_addresses(port) == ["127.0.0.1"]
    finally:
        podman("rm", "-f", name, check=False)


# Network interfaces made in a new network namespace (ip, as root), and whether
# CODE_SERVER_LISTEN=all must be refused there: a host's, or a container's own network.
INTERFACES = {
    "eth0 ifb0 ifb1 (a host with no bridge)": (
        "ip tuntap add eth0 mode tap; ip link add ifb0 type ifb; ip link add ifb1 type ifb",
        True,
    ),
    "eth0 eth1 (a host with two cards)": (
        "ip tuntap add eth0 mode tap; ip tuntap add eth1 mode tap",
        True,
    ),
    # A network card cannot be made in a namespace: /sys/class/net shows the links of a
    # host whose only card is eth0 (this machine's card, a virtio one on the PCI bus).
    "eth0 alone, a network card (a host with one card)": (
        "mount -t tmpfs cards /sys/class/net && cd /sys/class/net"
        " && ln -s ../../devices/virtual/net/lo lo"
        " && ln -s ../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth0 eth0",
        True,
    ),
    "eth0 (a container's own network)": ("ip tuntap add eth0 mode tap", False),
    "tap0 (rootless podman's own network)": ("ip tuntap add tap0 mode tap", False),
}


@pytest.mark.parametrize("interfaces", INTERFACES)
def test_listening_on_all_is_refused_where_the_network_is_a_hosts(project, tmp_path, interfaces):
    """start-code-server.sh in a network namespace with these interfaces (and its own /sys,
    which shows them). Refused: exit 2 before code-server starts; accepted: it starts (a
    stand-in that prints its arguments) on 0.0.0.0."""
    make, refused = INTERFACES[interfaces]
    (tmp_path / "code-server").write_text('#!/bin/sh\necho "code-server $*"\n')
    (tmp_path / "code-server").chmod(0o755)
    script = project / "docker" / "start-code-server.sh"
    inside = f"mount -t sysfs sysfs /sys && {make} && sh {script}"
    env = {
        "CODE_SERVER_LISTEN": "all",
        "PASSWORD": "x" * 20,
        "PATH": f"{tmp_path}:/usr/sbin:/usr/bin:/bin",
    }
    done = run(["unshare", "--net", "--mount", "sh", "-c", inside], env=env, check=False)
    if refused:
        assert done.returncode == 2 and "CODE_SERVER_LISTEN=all refused" in done.stderr, done
        assert "code-server --bind-addr" not in done.stdout
    else:
        assert done.returncode == 0, done.stderr
        assert "code-server --bind-addr 0.0.0.0:8080 --auth password" in done.stdout


@pytest.mark.parametrize("network", ["bridge", "host"])
def test_the_network_card_tells_a_hosts_network_from_a_containers_own(project, tmp_path, network):
    """Real podman runs of start-code-server.sh (in the stand-in base image, with a stand-in
    code-server that prints its arguments): on podman's own network (eth0 a veth) it listens
    on 0.0.0.0; on the host's it is refused, naming the host's card (a PCI device)."""
    (tmp_path / "code-server").write_text('#!/bin/sh\necho "code-server $*"\n')
    (tmp_path / "code-server").chmod(0o755)
    done = podman(
        *["run", "--rm", "--network", network, "-v", f"{tmp_path}:/stand-in:ro"],
        *["-v", f"{project / 'docker'}:/scripts:ro", "-e", "PATH=/stand-in:/usr/bin:/bin"],
        *["-e", "CODE_SERVER_LISTEN=all", "-e", "PASSWORD=" + "x" * 20],
        *[standin_base_image(PYTHON_VERSION), "sh", "/scripts/start-code-server.sh"],
        check=False,
    )
    if network == "bridge":
        assert "code-server --bind-addr 0.0.0.0:8080" in done.stdout, done.stderr
    else:
        assert done.returncode == 2, done
        assert "this container sees the host's network card" in done.stderr


@pytest.mark.parametrize(
    "options",
    [
        ["-e", "APPTAINER_CONTAINER=/home/abc1234/project.sif"],  # Apptainer sets this
        ["--network", "host"],  # the host's bridges (podman0, veth...) are visible
    ],
    ids=["apptainer", "network-host"],
)
def test_listening_on_all_interfaces_is_refused_on_the_host_network(
    code_server, options: list[str]
) -> None:
    # (code_server runs a container on podman's bridge, so the host has one to see)
    refused = podman(
        "run",
        "--rm",
        "-e",
        "CODE_SERVER_LISTEN=all",
        *options,
        f"{IMAGE}:code-server",
        check=False,
    )
    assert refused.returncode == 2
    assert "CODE_SERVER_LISTEN=all refused" in refused.stderr
