"""The generated README's day-one commands, run as written on a student's laptop.

A fresh home, PATH ``/usr/local/bin:/usr/bin:/bin`` and Debian's ``/usr/bin/python3`` (3.11,
which refuses ``pip install`` outside a virtual environment), no uv. Every ```bash block of
the README runs in order in one shell, as pasted (install, gpu-check, a fit, the notebook,
plain pytest and the nox checks); TensorBoard, a server, is started from its line and
asked for the fit's run.
Then docs/github.md's first steps (git identity, an SSH key, the first commit) run the same
way. Downloads come from the machine's pip and pre-commit caches (as on a laptop after its
first install); nothing else is shared with the test machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from harness.bake import bake
from harness.files import code_blocks
from harness.processes import free_port, run, wait_for_http

SYSTEM_PYTHON = "/usr/bin/python3"
ANSWERS = {"author": "Ada Lovelace", "netid": "xyz9876"}
SERVER = "tensorboard --logdir"  # the one block that starts a server
# What TensorFlow and matplotlib print when nobody asked: never in a student's output.
NOISE = ("oneDNN custom operations", "absl::InitializeLog", "cpu_feature_guard", "fontManager")


@pytest.fixture(scope="module")
def laptop(tmp_path_factory):
    """(folder holding the baked project, the student's environment)."""
    if not Path(SYSTEM_PYTHON).is_file():
        pytest.fail("needs Debian's python3 and python3-venv (.ci/run installs them)")
    root = tmp_path_factory.mktemp("laptop")
    home = root / "home"
    home.mkdir()
    project = bake(root / "work", **ANSWERS)
    caches = Path.home() / ".cache"
    env = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "VIRTUAL_ENV": "",
        "PIP_CACHE_DIR": str(caches / "pip"),
        "PRE_COMMIT_HOME": str(caches / "pre-commit"),
    }
    return project, env


def as_written(blocks: list[str], cwd: Path, env: dict, stdin: str = ""):
    """Run the blocks in one bash, in order, stopping at the first failing line."""
    script = "set -eo pipefail\nexec 2>&1\n" + "\n".join(blocks)
    return run(["bash", "-c", script], cwd=cwd, env=env, input=stdin, check=False)


@pytest.fixture(scope="module")
def day_one(laptop):
    """Every bash block of the README but the server's, in order; their output."""
    project, env = laptop
    readme = code_blocks((project / "README.md").read_text(), "bash")
    done = as_written([b for b in readme if SERVER not in b], project.parent, env)
    assert done.returncode == 0, done.stdout[-20000:]
    return done.stdout


def test_day_one_runs_as_written_with_debian_python(day_one, laptop):
    project, _ = laptop
    assert re.search(r"^version = 3\.11\.", (project / ".venv" / "pyvenv.cfg").read_text(), re.M)
    assert "Num GPUs Available: 0" in day_one
    view = "(view: python -m genai_project tensorboard --logdir"  # the quiet command
    assert f"logs    logs/tensorboard/gmm  {view}" in day_one
    assert (project / "gmm.png").stat().st_size > 10_000
    for session in ("tests-all", "lint"):
        assert f"Session {session} was successful" in day_one, session
    summaries = re.findall(r"^.*\d+ passed.*$", day_one, re.M)
    assert any("deselected" not in line for line in summaries), summaries  # tests-all: all


def test_plain_pytest_leaves_out_the_slow_tests_and_says_how_to_run_them(day_one, laptop):
    """A student's everyday `pytest` / `nox -s tests` skips what takes long, visibly;
    `nox -s tests-all` (the README's last check, CI's) runs them."""
    project, env = laptop
    collect = [project / ".venv" / "bin" / "python", "-m", "pytest", "--collect-only", "-q"]
    quick = run(collect, cwd=project, env=env)
    everything = run([*collect, "--slow"], cwd=project, env=env)
    left_out = int(re.search(r"(\d+) deselected", quick.stdout)[1])
    assert left_out >= 4 and "deselected" not in everything.stdout
    assert f"{left_out} slow test(s) not run; run everything with: nox -s tests-all" in quick.stdout
    assert f"{left_out} slow test(s) not run" in day_one  # what the README's `pytest` said
    for slow in ("test_two_local_workers_fit_like_one", "test_notebook_runs_from_a_clean_kernel"):
        assert slow not in quick.stdout and slow in everything.stdout


def test_day_one_output_has_no_library_noise(day_one):
    noisy = [line for line in day_one.splitlines() if any(n in line for n in NOISE)]
    assert noisy == [], "\n".join(noisy)


def test_tensorboard_line_serves_the_fit_quietly(day_one, laptop):
    """The README's TensorBoard line serves the fit's run, and what it prints has no
    TensorFlow start-up notices either."""
    project, env = laptop
    [line] = [b for b in code_blocks((project / "README.md").read_text(), "bash") if SERVER in b]
    command = line.split("#", 1)[0].strip()
    port = free_port()  # the README's port 6006 may be taken on a shared machine
    server = subprocess.Popen(
        ["bash", "-c", f". .venv/bin/activate && exec {command} --port {port}"],
        cwd=project,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_for_http(port, "/data/runs", alive=lambda: server.poll() is None)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=60) as answer:
            assert "gmm" in json.loads(answer.read())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        said = server.communicate()[0]
    assert f"localhost:{port}" in said  # its own lines stay: where to open it
    noisy = [line for line in said.splitlines() if any(n in line for n in NOISE)]
    assert noisy == [], said


def test_first_commit_and_ssh_key_as_github_md_says(day_one, laptop):
    project, env = laptop
    identity, commit = code_blocks((project / "docs" / "github.md").read_text(), "bash")[:2]
    # ssh-keygen's default file is in the account's home from /etc/passwd, not $HOME: the
    # page names the file (~ is this home), so the test cannot touch the machine's keys.
    assert "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519 " in identity
    done = as_written([identity, commit], project.parent, env, stdin="\n" * 5)
    assert done.returncode == 0, done.stdout
    assert (Path(env["HOME"]) / ".ssh" / "id_ed25519.pub").read_text().startswith("ssh-ed25519")
    author = run(["git", "log", "-1", "--format=%an <%ae>"], cwd=project, env=env).stdout
    assert author.strip() == "Ada Lovelace <xyz9876@u.northwestern.edu>"
