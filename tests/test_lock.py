"""The lock: one set of versions that every route installs, shipped resolved with the template.

The template ships, per TensorFlow choice, a uv.lock and its pip exports (requirements/*.txt)
made by `python locks.py`; the post-gen hook writes the project's name into the chosen one.
These tests prove the shipped locks are current and resolve for every platform (PyPI), that
a baked lock is exactly what `uv lock` keeps for that project, that the lock installs with the
package index turned off, that the README's laptop route installs exactly the lock, and that
a lock older than pyproject.toml stops every route with the command that updates it.
"""

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

from harness.bake import DEFAULTS, TEMPLATE, bake
from harness.miniquest import setup_env
from harness.processes import python_for, run
from harness.venvs import MARKER_PROGRAM, frozen_versions, locked_versions

SHIPPED = TEMPLATE / "{{cookiecutter.project}}" / ".template-locks"
TENSORFLOWS = DEFAULTS["tensorflow_version"]
PYTHON = python_for(DEFAULTS["python_version"][0])
UPDATE = "nox -s lock"
# The five platforms and builds students use: (uv's --python-platform, set of extras).
PLATFORMS = [
    ("x86_64-manylinux_2_28", "gpu"),  # Quest, NVIDIA machines
    ("x86_64-manylinux_2_28", "cpu"),  # CI, containers on Intel/AMD laptops
    ("aarch64-manylinux_2_28", "cpu"),  # containers on Apple Silicon
    ("aarch64-apple-darwin", "cpu"),  # a Mac, natively
    ("x86_64-pc-windows-msvc", "cpu"),  # Windows, natively
]


def lock_sets() -> dict[str, list[str]]:
    """SETS of the generated requirements/check.py (plain Python: no Jinja in it)."""
    path = TEMPLATE / "{{cookiecutter.project}}" / "requirements" / "check.py"
    spec = importlib.util.spec_from_file_location("lock_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SETS


def check(project: Path, extras: str, check: bool = True):
    return run([PYTHON, "requirements/check.py", extras], cwd=project, check=check)


@pytest.fixture(scope="module", params=TENSORFLOWS)
def baked(request, tmp_path_factory) -> tuple[Path, str]:
    """(project, TensorFlow version): baked with the defaults and each TensorFlow choice."""
    version = request.param
    return bake(tmp_path_factory.mktemp("lock"), tensorflow_version=version), version


def test_every_tensorflow_choice_has_a_shipped_lock_and_nothing_else():
    assert sorted(p.name for p in SHIPPED.iterdir()) == sorted(
        f"tensorflow-{v}" for v in TENSORFLOWS
    )
    for version in TENSORFLOWS:
        folder = SHIPPED / f"tensorflow-{version}"
        files = sorted(p.name for p in (folder / "requirements").iterdir())
        assert files == sorted(f"{name}.txt" for name in lock_sets()), folder
        assert (folder / "uv.lock").is_file()


def test_shipped_lock_is_up_to_date(baked: tuple[Path, str], tmp_path: Path):
    """Stale (the template's pyproject.toml changed since `python locks.py`) fails here."""
    baked, _ = baked
    done = run(["uv", "lock", "--locked"], cwd=baked, check=False)
    assert done.returncode == 0, f"a shipped lock is stale: python locks.py\n{done.stderr}"
    for extras in lock_sets():
        check(baked, extras)
    # The exports are uv's, unedited: made again from the lock, they are the same bytes.
    again = tmp_path / "again"
    shutil.copytree(baked, again, ignore=shutil.ignore_patterns(".git"))
    run([PYTHON, "requirements/check.py", "--export"], cwd=again)
    for extras in lock_sets():
        name = f"requirements/{extras}.txt"
        assert (again / name).read_text() == (baked / name).read_text(), name


@pytest.mark.parametrize(("platform", "variant"), PLATFORMS, ids=lambda x: x)
def test_lock_installs_on_every_platform(baked, tmp_path: Path, platform, variant):
    """Every pin has a file for each platform and Python choice, today, on PyPI (a yanked or
    deleted file fails here); the right TensorFlow build is among them."""
    baked, tensorflow = baked
    x86 = platform.startswith("x86_64")
    build = "tensorflow-cpu" if variant == "cpu" and x86 else "tensorflow"
    cuda = variant == "gpu" and x86 and "linux" in platform
    for python in DEFAULTS["python_version"]:
        done = run(
            ["uv", "pip", "install", "--dry-run", "--no-deps", "--require-hashes",
             "-r", f"requirements/{variant}.txt", "--python-platform", platform,
             "--python-version", python, "--target", tmp_path / python],
            cwd=baked,
        )  # fmt: skip
        plan = done.stdout + done.stderr
        assert re.search(rf"(?m)^ \+ {build}=={re.escape(tensorflow)}$", plan), plan
        assert bool(re.search(r"(?m)^ \+ nvidia-cudnn-cu\d+==", plan)) == cuda, plan


@pytest.mark.parametrize(
    "name", ["x", "my-diffusion-lab", "genai-project-two", "a-rather-long-project-name-42"]
)
def test_baked_lock_is_what_uv_lock_writes_for_the_project(tmp_path: Path, name: str):
    """The hook writes the name into the shipped lock; uv, offline and with an empty cache
    (no index, no metadata), finds it current and rewrites nothing."""
    project = bake(tmp_path, project=name)
    shipped = (project / "uv.lock").read_bytes()
    assert f'name = "{name}"'.encode() in shipped
    empty = {"UV_CACHE_DIR": str(tmp_path / "empty-cache")}
    run(["uv", "lock", "--check", "--offline"], cwd=project, env=empty)
    run(["uv", "lock", "--offline"], cwd=project, env=empty)
    assert (project / "uv.lock").read_bytes() == shipped
    for extras in lock_sets():
        check(project, extras)


def readme_install_lines(project: Path) -> list[str]:
    """The Quick start's lines that make the laptop environment, as the README has them."""
    readme = (project / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, re.S)[1]
    lines = [line.split("#")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith(("pip install", "python requirements/"))]


def test_laptop_route_installs_exactly_the_lock_with_the_index_off(tmp_path: Path):
    """The README's commands, with a wheel folder filled from the lock alone and pip's
    index turned off: nothing is resolved, nothing is missing, `pip check` agrees, and
    `pip freeze` is the lock."""
    project = bake(tmp_path)
    lines = readme_install_lines(project)
    assert lines == [
        "python requirements/check.py cpu-dev",
        "pip install --no-deps --require-hashes -r requirements/cpu-dev.txt",
        "pip install --no-deps -e .",
    ]
    wheels = tmp_path / "wheels"
    run([PYTHON, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
         "-r", "requirements/cpu-dev.txt", "-d", wheels], cwd=project)  # fmt: skip
    venv = project / ".venv"
    run([PYTHON, "-m", "venv", venv])
    bin_dir = venv / "bin"
    offline = ["--no-index", "--find-links", str(wheels)]
    for line in lines:
        words = line.split()
        if words[0] == "python":
            run([bin_dir / "python", *words[1:]], cwd=project)
        elif "-r" in words:  # the lock: from the wheel folder only
            run([bin_dir / "pip", *words[1:], "--quiet", *offline], cwd=project)
            # ...and again with dependencies resolved among those wheels: none is missing.
            deps = [w for w in words[1:] if w != "--no-deps"]
            run([bin_dir / "pip", *deps, "--quiet", *offline], cwd=project)
        else:  # the project itself (its build backend comes from the index)
            run([bin_dir / "pip", *words[1:], "--quiet"], cwd=project)
    run([bin_dir / "pip", "check"])
    environment = run([bin_dir / "python", "-c", MARKER_PROGRAM]).stdout
    frozen = frozen_versions(run([bin_dir / "pip", "freeze"]).stdout, project)
    assert frozen == locked_versions(project, "cpu-dev", environment)


def test_setup_env_without_uv_installs_exactly_the_lock(tmp_path: Path):
    """setup_env.sh's pip route (a login node without uv): the same versions as the lock.
    (Its uv route: tests/test_quest.py, in the environments the jobs use.)"""
    project = bake(tmp_path)
    no_uv = tmp_path / "bin"  # PATH without uv: only the system's folders
    no_uv.mkdir()
    env = tmp_path / "env"
    done = setup_env(project, PROJECT_ENV=str(env), PATH=f"{no_uv}:/usr/bin:/bin")
    assert done.returncode == 0, done.stdout + done.stderr
    python = env / "bin" / "python"
    assert run([python, "-m", "pip", "show", "uv"], check=False).returncode != 0
    frozen = frozen_versions(run([python, "-m", "pip", "freeze"]).stdout, project)
    environment = run([python, "-c", MARKER_PROGRAM]).stdout
    assert frozen == locked_versions(project, "cpu", environment)


def edit_a_dependency(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('  "numpy>=1.26",\n', '  "numpy>=1.26",\n  "rich>=13",\n', 1))
    assert pyproject.read_text() != text


def test_stale_lock_stops_every_route(tmp_path: Path):
    """A dependency added to pyproject.toml without `nox -s lock`: the README's route, the
    nox sessions (which CI runs) and setup_env.sh refuse, naming that command; nothing is
    installed. (The Dockerfile: tests/test_images.py.)"""
    project = bake(tmp_path)
    edit_a_dependency(project)
    for extras in lock_sets():
        refused = check(project, extras, check=False)
        assert refused.returncode == 1 and UPDATE in refused.stderr, refused.stderr
    assert readme_install_lines(project)[0].startswith("python requirements/check.py")
    for session in ("tests", "lint"):
        done = run(["nox", "-s", session], cwd=project, check=False)
        assert done.returncode != 0 and UPDATE in done.stdout + done.stderr, session
    assert not list(project.glob(".nox/*/lib/python*/site-packages/tensorflow*")), "installed"
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert "run: nox -s tests-all lint" in workflow  # CI goes through the sessions above
    env = tmp_path / "env"
    done = setup_env(project, PROJECT_ENV=str(env))
    assert done.returncode == 2 and UPDATE in done.stderr, done.stderr
    assert not list(env.glob("lib/python*/site-packages/tensorflow*")), "installed anyway"


def test_edited_uv_lock_is_refused_too(tmp_path: Path):
    """uv.lock changed alone (by hand, by `uv lock`, by Dependabot): the pip files no longer
    match it, and the check says to run the one command that makes both."""
    project = bake(tmp_path)
    lock = project / "uv.lock"
    text = lock.read_text()
    lock.write_text(
        text.replace('name = "matplotlib"\nversion = "', 'name = "matplotlib"\nversion = "0', 1)
    )
    assert lock.read_text() != text
    refused = check(project, "cpu", check=False)
    assert refused.returncode == 1 and UPDATE in refused.stderr


def test_nox_lock_makes_a_stale_lock_current_again(tmp_path: Path):
    """The one command: after it, every route's check passes, and the new dependency is
    pinned in uv.lock and in every requirements file."""
    project = bake(tmp_path)
    edit_a_dependency(project)
    run(["nox", "-s", "lock"], cwd=project)
    for extras in lock_sets():
        check(project, extras)
        assert re.search(r"(?m)^rich==", (project / "requirements" / f"{extras}.txt").read_text())
    run(["uv", "lock", "--locked", "--offline"], cwd=project)
