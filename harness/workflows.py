"""GitHub workflows: what actionlint and zizmor find in one."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.processes import run


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
