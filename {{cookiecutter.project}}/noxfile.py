"""The project's checks, one command each:  nox -s tests lint  (or just: nox).

nox makes a fresh virtual environment per session, so "works on my machine"
means "works from a clean install". With uv installed (pip install uv) the
environments are made in seconds; without it nox falls back to virtualenv.
"""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite on CPU TensorFlow (no GPU needed)."""
    session.install("-e", ".[cpu,test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff, shellcheck, hadolint and file hygiene, through pre-commit."""
    session.install("pre-commit")
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs)


@nox.session(name="gpu-check")
def gpu_check(session: nox.Session) -> None:
    """Install the GPU build of TensorFlow and report what it sees."""
    session.install("-e", ".[gpu]")
    session.run("python", "-m", "{{ cookiecutter.package }}", "gpu-check", *session.posargs)
