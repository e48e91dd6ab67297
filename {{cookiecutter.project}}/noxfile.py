"""The project's checks, one command each:  nox -s tests lint  (or just: nox).
Everything CI runs, the slow tests too:  nox -s tests-all lint

nox makes a fresh virtual environment per session, so "works on my machine"
means "works from a clean install". With uv installed (pip install uv) the
environments are made in seconds; without it nox falls back to virtualenv.
"""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint"]
# uv, pinned: it writes uv.lock, and one version writes the same lock for everyone.
UV = "uv==0.13.9"


def install_locked(session: nox.Session, extras: str, project: bool = True) -> None:
    """Install exactly the lock's versions (requirements/EXTRAS.txt), then the project.

    Nothing is resolved here: every package and its hash come from the lock. A lock older
    than pyproject.toml stops the session with the command that updates it (nox -s lock).
    """
    session.run("python", "requirements/check.py", extras)
    session.install("--no-deps", "--require-hashes", "-r", f"requirements/{extras}.txt")
    if project:
        session.install("--no-deps", "-e", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """The everyday tests on CPU TensorFlow (no GPU needed); the slow ones are left out."""
    install_locked(session, "cpu-test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(name="tests-all")
def tests_all(session: nox.Session) -> None:
    """Every test, the slow ones too (several workers, the notebook): what CI runs."""
    install_locked(session, "cpu-test")
    session.run("python", "-m", "pytest", "--slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff, shellcheck, hadolint and file hygiene, through pre-commit."""
    install_locked(session, "dev", project=False)
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs)


@nox.session
def lock(session: nox.Session) -> None:
    """Update the lock after editing the dependencies: uv.lock and requirements/*.txt.

    Resolves for every platform of pyproject.toml's [tool.uv] at once. Keeps the locked
    versions that still fit; `nox -s lock -- --upgrade` takes the newest of everything
    (--upgrade-package NAME: one). Commit uv.lock and requirements/ afterwards.
    """
    session.install(UV)
    session.run("uv", "lock", *session.posargs)
    session.run("python", "requirements/check.py", "--export")


@nox.session(name="gpu-check")
def gpu_check(session: nox.Session) -> None:
    """Install the GPU build of TensorFlow and report what it sees."""
    install_locked(session, "gpu")
    session.run("python", "-m", "{{ cookiecutter.package }}", "gpu-check", *session.posargs)


# --- Template updates (docs/template-updates.md) ------------------------------------
# cruft and the cookiecutter the course template is tested with, pinned: same merge for all.
CRUFT = ["cruft==2.16.0", "cookiecutter==2.7.1"]


@nox.session(name="template-check")
def template_check(session: nox.Session) -> None:
    """Is there a newer template than the one in .cruft.json? (fails if so)"""
    session.install(*CRUFT)
    session.run("cruft", "check", *session.posargs)


@nox.session(name="template-update")
def template_update(session: nox.Session) -> None:
    """Merge the newest template into the project: all of it, or nothing on a clash.

    After --: --keep-conflicts (keep the update with the clashes marked in the files),
    or any `cruft update` option: --skip-update, --checkout TAG,
    --variables-to-update '{"partition": "short"}'. The work is tools/template_update.py.
    """
    session.install(*CRUFT)
    session.run("python", "tools/template_update.py", *session.posargs)
