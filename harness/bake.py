"""Baking the template: a project from answers (or a replay file), a refused bake, the
hook's constants, the template as a git repository, a clone as Git for Windows makes it."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from harness.processes import run

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
