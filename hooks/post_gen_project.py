"""Finishing touches after the project is written (runs inside the new project).

- scripts get their executable bit (a jobscript must run as ``./slurm/x.sh`` too);
- ``logs/`` exists and is kept in git: Slurm does not create the ``--output``
  directory, and a job whose log directory is missing dies at launch;
- a git repository with everything staged, because pre-commit and the
  devcontainer's post-create step need one (skipped inside an existing repo);
- a short "next steps" message.
"""

import json
import shutil
import stat
import subprocess
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
PROJECT = Path.cwd()


def make_executable(paths):
    for path in paths:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def inside_git_repo(path):
    found = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.returncode == 0


def init_git():
    if shutil.which("git") is None:
        return "git is not installed: run `git init` yourself before `pre-commit install`."
    if inside_git_repo(PROJECT.parent):
        return "The project sits inside an existing git repository; no new one was made."
    subprocess.run(["git", "init", "--quiet", "-b", "main"], check=True)
    subprocess.run(["git", "add", "--all"], check=True)
    return "A git repository was made with every file staged: commit when ready."


def main():
    make_executable(sorted(PROJECT.glob("slurm/*.sh")))
    (PROJECT / "logs").mkdir(exist_ok=True)
    (PROJECT / "logs" / ".gitkeep").touch()
    git_note = init_git()
    package, project = ANSWERS["package"], ANSWERS["project"]
    print(
        f"""
Created {PROJECT}
{git_note}

Next steps (the README explains each):
  cd {project}
  code .                                   # VS Code: "Reopen in Container", then
                                           #   "CPU / Apple Silicon" or "NVIDIA GPU"
  python -m venv .venv && . .venv/bin/activate
  pip install -e ".[cpu,dev]"              # ".[gpu,dev]" on an NVIDIA machine
  python -m {package} gpu-check            # what TensorFlow sees
  nox -s tests lint                        # the project's own checks
On Quest: bash slurm/setup_env.sh once, then sbatch slurm/gpu_check.sh
"""
    )


if __name__ == "__main__":
    main()
