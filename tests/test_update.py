"""Template updates: a project made at template commit A is updated to commit B.

Each test makes a git copy of this template (commit A), generates a project from
it, edits it as a student would, commits a template change (commit B) in the copy,
and runs the project's own `nox -s template-update` (cruft update, all or nothing).
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.bake import template_repo
from harness.processes import run
from harness.venvs import project_venv
from harness.workflows import workflow_problems

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
PROJECT_DIR = "{{cookiecutter.project}}"
# Answers unlike every default, and B changes the defaults: an update that forgot
# the student's answers would show here.
ANSWERS = {
    "netid": "xyz9876",
    "quest_account": "b1042",
    "partition": "short",
    "gpu": "none",
    "gpus_per_node": "0",
    "walltime": "01:00:00",
}


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["git", *args], cwd=repo, env=GIT_ENV, check=check)


def edit(path: Path, pattern: str, replacement: str) -> None:
    """Replace the one line of ``path`` matching ``pattern`` (a test edit must hit)."""
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, f"{pattern!r} not found in {path}"
    path.write_text(new, encoding="utf-8")


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """A git repository holding this template's files (as on disk) at one commit, A."""
    return template_repo(tmp_path / "template", message="A")


def generate(template: Path, out: Path, tool: str) -> Path:
    """Generate with `cruft create` or plain `cookiecutter` (the hook writes the record)."""
    if tool == "cruft":
        cmd = ["cruft", "create", template, "--no-input", "--output-dir", out]
        cmd += ["--extra-context", json.dumps(ANSWERS)]
    else:
        cmd = ["cookiecutter", template, "--no-input", "--output-dir", out]
        cmd += [f"{key}={value}" for key, value in ANSWERS.items()]
    run(cmd)
    project = out / "genai-project"
    git(project, "add", "--all")  # `cruft create` writes .cruft.json after the hook's git add
    git(project, "commit", "--quiet", "-m", "generated")
    return project


def record(project: Path) -> dict:
    return json.loads((project / ".cruft.json").read_text(encoding="utf-8"))


def answers(project: Path) -> dict:
    context = record(project)["context"]["cookiecutter"]
    return {key: value for key, value in context.items() if not key.startswith("_")}


def student_module(project: Path) -> None:
    """A new module of the student's own, and its test."""
    package = project / "src" / "genai_project"
    (package / "my_model.py").write_text('def greet():\n    return "mine"\n')
    (project / "tests" / "test_my_model.py").write_text(
        "from genai_project.my_model import greet\n\n\n"
        "def test_greet():\n"
        '    assert greet() == "mine"\n'
    )


def student_edits(project: Path) -> None:
    """A new module and its test, other training options, a README paragraph."""
    student_module(project)
    edit(project / "slurm" / "train.sh", r"^(\s*set -- --model .*)$", r"\1 --seed 7")
    edit(project / "README.md", r"^(and ships a small package)", r"\1 (my notes: see my_model.py)")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "student work")


def template_release(template: Path) -> str:
    """Commit B: a jobscript fix, a bumped pin, a new file, new defaults. Returns B."""
    inner = template / PROJECT_DIR
    edit(inner / "slurm" / "train.sh", r"--signal=B:USR1@\d+", "--signal=B:USR1@180")
    edit(inner / "pyproject.toml", r'"pytest>=[0-9.]+"', '"pytest>=8.3"')
    (inner / "NEWS.md").write_text("Template news for {{ cookiecutter.netid }}.\n")
    defaults = json.loads((template / "cookiecutter.json").read_text())
    defaults.update({"netid": "zzz0000", "quest_account": "p99999"})
    defaults["partition"] = ["normal", *[p for p in defaults["partition"] if p != "normal"]]
    (template / "cookiecutter.json").write_text(json.dumps(defaults, indent=2) + "\n")
    git(template, "add", "--all")
    git(template, "commit", "--quiet", "-m", "B")
    return git(template, "rev-parse", "HEAD").stdout.strip()


def template_update(project: Path, *options: str, check: bool = True):
    return run(["nox", "-s", "template-update", "--", *options], cwd=project, check=check)


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file outside .git, with its bytes."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file()
        and ".git" not in path.relative_to(project).parts
        and ".nox" not in path.relative_to(project).parts
    }


@pytest.mark.parametrize("tool", ["cruft", "cookiecutter"])
def test_update_brings_template_changes_and_keeps_student_edits(tmp_path, template, tool):
    project = generate(template, tmp_path / "out", tool)
    commit_a = git(template, "rev-parse", "HEAD").stdout.strip()
    assert record(project)["commit"] == commit_a
    assert record(project)["template"] == str(template)
    before = answers(project)
    student_edits(project)
    commit_b = template_release(template)
    assert run(["cruft", "check"], cwd=project, check=False).returncode == 1

    template_update(project)

    train = (project / "slurm" / "train.sh").read_text()
    assert "--signal=B:USR1@180" in train  # the template's fix
    assert re.search(r"^\s*set -- --model .* --seed 7$", train, re.MULTILINE)  # the student's
    assert '"pytest>=8.3"' in (project / "pyproject.toml").read_text()
    assert (project / "NEWS.md").read_text() == "Template news for xyz9876.\n"
    assert "(my notes: see my_model.py)" in (project / "README.md").read_text()
    assert (project / "src" / "genai_project" / "my_model.py").is_file()
    # The answers stay the student's, in the record and in the files.
    assert record(project)["commit"] == commit_b
    assert answers(project) == before
    assert "#SBATCH --account=b1042" in train and "#SBATCH --partition=short" in train
    # The whole update is staged: one commit records it; nothing else is left.
    assert not list(project.rglob("*.rej"))
    git(project, "commit", "--quiet", "-m", "Update from the course template")
    assert git(project, "status", "--porcelain").stdout == ""
    assert run(["cruft", "check"], cwd=project).returncode == 0
    if tool == "cookiecutter":  # the updated project's everyday tests, once (the slow ones
        bin_dir = project_venv(project)  # run in a laptop venv on day one: test_readme_student)
        run([bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)


def test_update_keeps_the_students_ignored_rej_files(tmp_path, template):
    """A *.rej of the student's own in a git-ignored folder is neither the update's
    leftover (the clean update succeeds) nor deleted."""
    project = generate(template, tmp_path / "out", "cruft")
    mine = {"data/keep.rej": b"mine\n", "results/old/merge.rej": b"old merge\n"}
    for name, content in mine.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(content)
    assert git(project, "status", "--porcelain").stdout == ""  # ignored, so the tree is clean
    template_release(template)

    template_update(project)

    assert "--signal=B:USR1@180" in (project / "slurm" / "train.sh").read_text()
    assert {name: (project / name).read_bytes() for name in mine} == mine


# A student's script: imports in every form the rename rewrites, and a string it leaves.
SCRIPT = """import genai_project
import genai_project.my_model as mine
from genai_project import my_model

print(genai_project.my_model.greet(), mine.__name__, my_model.__name__, "genai_project")
"""


def test_package_rename_moves_the_students_modules(tmp_path, template):
    """`--variables-to-update '{"package": ...}'`: the student's modules follow the
    template's into the new package, the imports of the old name in the student's .py files
    are rewritten (and named), and the lines still naming it (a string, a notebook) listed."""
    project = generate(template, tmp_path / "out", "cruft")
    student_module(project)
    (project / "scripts").mkdir()
    (project / "scripts" / "explore.py").write_text(SCRIPT)
    notebook = {"cells": [{"cell_type": "code", "source": ["import genai_project\n"]}]}
    (project / "notebooks" / "mine.ipynb").write_text(json.dumps(notebook, indent=1))
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "my module")

    done = template_update(project, "--variables-to-update", '{"package": "renamed"}')

    assert answers(project)["package"] == "renamed"
    assert not list((project / "src" / "genai_project").glob("**/*.py"))
    assert (project / "src" / "renamed" / "my_model.py").is_file()
    assert (project / "src" / "renamed" / "fit.py").is_file()
    rewritten = "scripts/explore.py, tests/test_my_model.py"
    assert f"Imports of genai_project now name renamed in: {rewritten}\n" in done.stdout
    assert (project / "scripts" / "explore.py").read_text() == SCRIPT.replace(
        "genai_project", "renamed"
    ).replace('"renamed"', '"genai_project"')
    listed = done.stdout.split("still name genai_project; change them:\n")[1]
    assert "scripts/explore.py:5:print(renamed.my_model.greet(), mine.__name__, " in listed
    assert 'notebooks/mine.ipynb:6:    "import genai_project\\n"' in listed
    assert "tests/test_my_model.py" not in listed
    # The student's code runs under the new name (the package from src/, as installed).
    env = {"PYTHONPATH": str(project / "src")}
    ran = run([sys.executable, "scripts/explore.py"], cwd=project, env=env)
    assert ran.stdout == "mine renamed.my_model renamed.my_model genai_project\n"
    run([sys.executable, "-m", "pytest", "-q", "tests/test_my_model.py"], cwd=project, env=env)
    git(project, "commit", "--quiet", "-m", "Update from the course template")
    assert git(project, "status", "--porcelain").stdout == ""


def conflicting_release(template: Path) -> None:
    """Commit B changes the very line the student changed, and adds a file."""
    inner = template / PROJECT_DIR
    edit(inner / "slurm" / "train.sh", r"^(\s*set -- --model .*)$", r"\1 --verbose")
    (inner / "NEWS.md").write_text("news\n")
    git(template, "add", "--all")
    git(template, "commit", "--quiet", "-m", "B")


def test_conflict_is_reported_and_changes_nothing(tmp_path, template):
    project = generate(template, tmp_path / "out", "cruft")
    student_edits(project)
    conflicting_release(template)
    head, files = git(project, "rev-parse", "HEAD").stdout, snapshot(project)

    failed = template_update(project, check=False)

    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert re.search(r"slurm/train\.sh, line \d+:", output)
    assert re.search(r"yours: +set -- --model .* --seed 7\n", output)
    assert re.search(r"template: +set -- --model .* --verbose\n", output)
    assert "Nothing was changed" in output
    assert git(project, "rev-parse", "HEAD").stdout == head
    assert git(project, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert snapshot(project) == files

    # Asked for: the whole update, with the clash marked for the student to resolve.
    kept = template_update(project, "--keep-conflicts", check=False)
    assert kept.returncode != 0
    train = (project / "slurm" / "train.sh").read_text()
    assert re.search(r"<<<<<<< yours\n.*--seed 7\n=======\n.*--verbose\n>>>>>>> template\n", train)
    assert (project / "NEWS.md").is_file()
    assert git(project, "commit", "-m", "half", check=False).returncode != 0  # git refuses
    git(project, "reset", "--quiet", "--hard")  # the documented undo
    assert snapshot(project) == files

    # Or skip this template version: only the record moves on.
    template_update(project, "--skip-update")
    assert record(project)["commit"] == git(template, "rev-parse", "HEAD").stdout.strip()
    after = snapshot(project)
    assert {name for name in after if after[name] != files.get(name)} == {".cruft.json"}
    assert run(["cruft", "check"], cwd=project).returncode == 0


def test_update_without_shared_history_is_all_or_nothing(tmp_path, template):
    """A repository that lacks the template's old files (history squashed, a project
    linked later) cannot be merged three-way; cruft then applies what it can and
    leaves *.rej files. The session undoes that: nothing changes."""
    project = generate(template, tmp_path / "out", "cruft")
    student_edits(project)
    shutil.rmtree(project / ".git")
    git(project, "init", "--quiet", "-b", "main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "squashed")
    conflicting_release(template)
    files = snapshot(project)

    failed = template_update(project, check=False)

    assert failed.returncode != 0
    assert "Nothing was changed" in failed.stdout + failed.stderr
    assert git(project, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert snapshot(project) == files


def hook_message(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The pre-generation hook's lines about the answers (what the student reads)."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.startswith("  - ")]


def test_update_revalidates_answers_and_changes_them_only_when_asked(tmp_path, template):
    project = generate(template, tmp_path / "out", "cruft")
    first_bake = run(
        ["cookiecutter", template, "--no-input", "--output-dir", tmp_path / "bad", "netid=ABC1234"],
        check=False,
    )
    assert first_bake.returncode != 0 and hook_message(first_bake)
    files = snapshot(project)

    refused = template_update(project, "--variables-to-update", '{"netid": "ABC1234"}', check=False)
    assert refused.returncode != 0
    assert hook_message(refused) == hook_message(first_bake)  # the same rules, same words
    assert snapshot(project) == files
    assert git(project, "status", "--porcelain").stdout == ""

    template_update(project, "--variables-to-update", '{"quest_account": "p12345"}')
    assert "#SBATCH --account=p12345" in (project / "slurm" / "train.sh").read_text()
    assert answers(project)["quest_account"] == "p12345"
    assert answers(project)["netid"] == ANSWERS["netid"]


def test_plain_cookiecutter_from_a_non_git_copy_says_how_to_link(tmp_path, template):
    copy = tmp_path / "copy"
    shutil.copytree(template, copy, ignore=shutil.ignore_patterns(".git"))
    made = run(["cookiecutter", copy, "--no-input", "--output-dir", tmp_path / "out"])
    assert "no .cruft.json was written" in made.stdout
    assert not (tmp_path / "out" / "genai-project" / ".cruft.json").exists()


def workflow_script(project: Path) -> str:
    workflow = yaml.safe_load((project / ".github/workflows/template-update.yml").read_text())
    steps = workflow["jobs"]["check"]["steps"]
    return next(step["run"] for step in steps if step.get("name") == "Compare with the template")


def run_workflow_step(project: Path, tmp_path: Path) -> tuple[str, str]:
    """The workflow's check step as GitHub runs it (bash -e); must never fail."""
    summary = tmp_path / "summary.md"
    summary.write_text("")
    script = tmp_path / "step.sh"
    script.write_text(workflow_script(project))
    done = run(["bash", "-e", script], cwd=project, env={"GITHUB_STEP_SUMMARY": str(summary)})
    (project / "check.log").unlink(missing_ok=True)
    return done.stdout, summary.read_text()


def test_ci_warns_when_behind_and_never_fails(tmp_path, template):
    project = generate(template, tmp_path / "out", "cruft")
    output, summary = run_workflow_step(project, tmp_path)
    assert "::warning" not in output and "Up to date" in summary

    template_release(template)
    output, summary = run_workflow_step(project, tmp_path)
    assert "::warning title=Template updates::the course template has changes" in output
    assert "nox -s template-update" in summary

    shutil.rmtree(template)
    output, _ = run_workflow_step(project, tmp_path)
    assert "::warning title=Template updates::could not reach the template" in output


def test_template_update_workflow_is_lint_clean(tmp_path, template):
    project = generate(template, tmp_path / "out", "cruft")
    workflow = project / ".github" / "workflows" / "template-update.yml"
    assert workflow_problems(workflow, "--no-progress") == []
