"""The template's test helpers: bake a project, run a command in it, give it a venv.

Every test suite uses these; nothing else bakes or runs commands. Test modules never
import each other: what two of them share lives here (or, for fixtures, in conftest.py).
"""

from __future__ import annotations

import ast
import contextlib
import http.client
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())


def bake(out_dir: Path, replay_file: Path | None = None, **answers: str) -> Path:
    """Generate a project into ``out_dir`` from the defaults plus ``answers``, or (as
    ``cookiecutter --replay-file``) from the answers saved in ``replay_file``.

    Returns the project's directory.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    assert replay_file is None or not answers, "a replay file holds all the answers"
    project = cookiecutter(
        str(TEMPLATE),
        no_input=replay_file is None,
        replay=None if replay_file is None else str(replay_file),
        output_dir=str(out_dir),
        extra_context=None if replay_file is not None else answers,
        accept_hooks=True,
    )
    return Path(project)


def hook_constant(name: str, hook: str = "pre_gen_project"):
    """The value of ``NAME = <literals>`` in hooks/<hook>.py (a Jinja template, so it
    cannot be imported): for tests that keep other files in step with the hook."""
    tree = ast.parse((TEMPLATE / "hooks" / f"{hook}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return eval(compile(ast.Expression(node.value), name, "eval"), {"__builtins__": {}})
    raise AssertionError(f"no {name} = ... in hooks/{hook}.py")


def bake_refused(out_dir: Path, capfd, **answers: str) -> str:
    """Bake answers the template must refuse; return what the refusal says.

    The hook's message (stderr, read through pytest's ``capfd``), or cookiecutter's own for
    a choice outside its list. Fails if the bake succeeds or leaves anything in ``out_dir``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    capfd.readouterr()
    try:
        bake(out_dir, **answers)
    except FailedHookException:
        message = capfd.readouterr().err
    except ValueError as err:  # a choice outside its list: cookiecutter refuses it itself
        message = str(err)
    else:
        raise AssertionError(f"the template accepted {answers}")
    assert list(out_dir.iterdir()) == [], "a partial project was left behind"
    return message


def run(
    cmd: list[str] | str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` and capture its output; on an unexpected failure show all of it."""
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    full_env = {**os.environ, **(env or {})}
    print("$", shlex.join(str(c) for c in cmd), f"(in {cwd})" if cwd else "", flush=True)
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=full_env,
        text=True,
        capture_output=True,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {result.returncode}: {shlex.join(map(str, cmd))}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


def python_for(version: str) -> str:
    """The interpreter for a ``X.Y`` version: pyenv's if it has one, else this one.

    pyenv's shims answer only for its global version, so ask pyenv for the prefix.
    """
    if shutil.which("pyenv"):  # absent in containers, e.g. the template's devcontainer
        found = subprocess.run(
            ["pyenv", "prefix", version], text=True, capture_output=True, check=False
        )
        if found.returncode == 0:
            return str(Path(found.stdout.strip().splitlines()[-1]) / "bin" / "python")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    raise AssertionError(f"no Python {version} on this machine (tried pyenv and {sys.executable})")


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


def template_repo(repo: Path, message: str = "template") -> Path:
    """A git repository at ``repo`` holding this template's files as they are on disk
    (uncommitted edits too), in one commit; returns ``repo``."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=TEMPLATE
    )
    for name in filter(None, listed.stdout.split("\0")):
        source = TEMPLATE / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    who = ["-c", "user.name=Template", "-c", "user.email=template@example.com"]
    run(["git", "init", "--quiet", "-b", "main"], cwd=repo)
    run(["git", "add", "--all"], cwd=repo)
    run(["git", *who, "commit", "--quiet", "-m", message], cwd=repo)
    return repo


def windows_checkout(project: Path, dest: Path) -> Path:
    """Commit a baked project, then clone it as Git for Windows does by default
    (``core.autocrlf=true``: text files get CRLF line endings unless .gitattributes
    says otherwise). Returns the clone."""
    who = ["-c", "user.name=Student", "-c", "user.email=student@example.com"]
    run(["git", *who, "commit", "--quiet", "--allow-empty", "-m", "baked"], cwd=project)
    run(["git", "-c", "core.autocrlf=true", "clone", "--quiet", project, dest])
    return dest


# Containers: podman (Debian's) with the settings found to work on this kind of
# machine, and local stand-ins for upstream base images (see tests/containers/).
CONTAINERS = TEMPLATE / "tests" / "containers"
PODMAN_ENV = {"CONTAINERS_CONF": str(CONTAINERS / "containers.conf")}


def podman(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``podman args...`` with the template's container settings."""
    return run(["podman", *args], env=PODMAN_ENV, check=check)


def standin_base_image(python_version: str) -> str:
    """Make (once per machine) the stand-in for python:X.Y-slim-bookworm; return its name."""
    run([CONTAINERS / "standin.sh", python_version], env=PODMAN_ENV)
    return f"docker.io/library/python:{python_version}-slim-bookworm"


# Servers the tests start (code-server): a free port, then wait until it answers.


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the system picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(
    port: int,
    path: str = "/healthz",
    alive: Callable[[], bool] = lambda: True,
    poll: float = 0.5,
    attempts: int = 600,
) -> bool:
    """Ask http://127.0.0.1:port/path until it answers 200 (True), the server is gone
    (``alive()`` is false: False at once) or ``attempts`` asks have failed (False)."""
    for _ in range(attempts):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return True
        except OSError:  # not listening yet, or the connection was reset
            pass
        finally:
            connection.close()
        if not alive():
            return False
        time.sleep(poll)
    return False


# Headless Chromium (Debian's), driven by Playwright (installed by the nox sessions that use it).
CHROMIUM = "/usr/bin/chromium"
# The flags a machine with a closed network needs: without the background-networking ones
# Chromium keeps trying to reach Google and its connections are refused.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium (a Playwright ``Browser``), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def code_server_login(browser, port: int, password: str):
    """Open code-server at 127.0.0.1:port in a new page, log in, wait for the workbench."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"http://127.0.0.1:{port}/")
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_selector(".monaco-workbench", timeout=180_000)
    return page


# Unprivileged users, as on a cluster (made once per machine, kept between runs).


def unprivileged_user(name: str, login: bool = False) -> pwd.struct_passwd:
    """The user ``name`` with a home and bash, made if missing. ``login``: SSH may let it in
    with a key (OpenSSH refuses a locked account, which `useradd` makes, without PAM)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--create-home", "--shell", "/bin/bash", name])
    if login:
        run(["usermod", "--password", "*", name])  # no password works, but not locked
    return pwd.getpwnam(name)


# Reading a baked project's files.


def student_docs(project: Path) -> str:
    """The project's README and its docs/ pages, as one text (README first)."""
    pages = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def code_blocks(markdown: str, language: str) -> list[str]:
    """The fenced code blocks of one language in a Markdown text, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, re.S | re.M)


def rendered_files(project: Path) -> list[Path]:
    """Every file of a baked project, outside .git."""
    return [p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts]


def parse_data_files(project):
    """Parse every TOML, JSON and YAML file; return how many of each."""
    counts = {"toml": 0, "json": 0, "yaml": 0}
    for path in rendered_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".json":
            json.loads(strip_jsonc_comments(text))
        elif path.suffix in (".yaml", ".yml"):
            yaml.safe_load(text)
        else:
            continue
        counts[path.suffix.lstrip(".").replace("yml", "yaml")] += 1
    return counts


def strip_jsonc_comments(text):
    """devcontainer.json is JSON with comments: drop // lines before parsing. (Lines end at
    "\n" only: splitlines() also splits at U+2028 or U+0085, which a JSON string may hold.)"""
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("//"))


def load_jsonc(text: str) -> dict:
    """Parse JSON with // and /* */ comments (strings may contain // safely)."""
    token = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)
    return json.loads(token.sub(lambda m: m[0] if m[0].startswith('"') else "", text))


def setup_env(project: Path, **settings: str):
    """Run the project's setup_env.sh with CPU TensorFlow (no multi-GB CUDA wheels)."""
    env = {"PROJECT_EXTRAS": "cpu", "PYTHON": python_for(DEFAULTS["python_version"][0])}
    return run(["bash", "slurm/setup_env.sh"], cwd=project, env={**env, **settings}, check=False)


def baked_with_env(root: Path, **answers: str) -> tuple[Path, Path]:
    """Bake into ``root``, then make the project's environment at ``root/env`` with its
    slurm/setup_env.sh (as a student does once on a login node); (project, env)."""
    path, env = bake(root, **answers), root / "env"
    done = setup_env(path, PROJECT_ENV=str(env))
    assert done.returncode == 0, done.stdout + done.stderr
    return path, env


def workflow_problems(workflow: Path, *zizmor_options: str) -> list[str]:
    """What actionlint and zizmor (offline) find in one GitHub workflow file; [] if clean.

    The tools come from the session (`WORKFLOW_LINTERS` in noxfile.py).
    """
    for tool in ("actionlint", "zizmor"):
        assert shutil.which(tool), f"{tool} not found: run the tests through their nox session"
    problems = []
    for cmd in (["actionlint", workflow], ["zizmor", "--offline", *zizmor_options, workflow]):
        done = run(cmd, cwd=workflow.parent, check=False)
        if done.returncode != 0:
            problems.append(f"{cmd[0]}:\n{done.stdout}{done.stderr}")
    return problems
