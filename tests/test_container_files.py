"""The container files, read and checked without building anything (`nox -s tests`).

devcontainer.json by the spec's rules that bite students (every configuration), the
Dockerfiles by hadolint and by what code-server must never do, the README's container
commands, and what keeps secrets out of git. Builds are in tests/test_images.py,
code-server running in tests/test_code_server.py, the devcontainer CLI in
tests/test_devcontainer.py, linux/arm64 in tests/test_arm64.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.bake import TEMPLATE, bake
from harness.files import SECRETS, load_jsonc, student_docs
from harness.processes import run

PRIVATE_KEY = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("container-files"))


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
# Static checks of the Dockerfiles and of the README's container commands.


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


# --------------------------------------------------------------------------
# Secrets stay out of git (out of the images: tests/test_images.py).


def test_gitignore_keeps_secrets_out(project: Path) -> None:
    checked = run(
        ["git", "check-ignore", "--no-index", *SECRETS, "pyproject.toml"], cwd=project, check=False
    ).stdout.split()
    assert "pyproject.toml" not in checked  # it can tell
    assert sorted(checked) == sorted(SECRETS)


def test_pre_commit_detects_a_private_key(tmp_path: Path) -> None:
    """The generated pre-commit config refuses a commit that adds a private key."""
    project = bake(tmp_path)
    hook = ["pre-commit", "run", "detect-private-key", "--all-files"]
    assert run(hook, cwd=project, check=False).returncode == 0  # clean project: passes
    (project / "deploy_key").write_text(PRIVATE_KEY)
    run(["git", "add", "deploy_key"], cwd=project)
    found = run(hook, cwd=project, check=False)
    assert found.returncode == 1 and "deploy_key" in found.stdout
