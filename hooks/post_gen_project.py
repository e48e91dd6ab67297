"""Finishing touches after the project is written (runs inside the new project).

- scripts get their executable bit (a jobscript must run as ``./slurm/x.sh`` too);
- ``logs/`` exists and is kept in git: Slurm does not create the ``--output``
  directory, and a job whose log directory is missing dies at launch;
- ``.cruft.json``, the record of where the project came from (template and
  commit) and with which answers, so `cruft check` / `cruft update` can bring
  template fixes later (``cruft create`` writes it itself; plain cookiecutter
  gets it from here);
- the lock (``uv.lock``, ``requirements/*.txt``) for the chosen TensorFlow, from the
  ones the template ships already resolved (``.template-locks/``, made by the
  template's ``python locks.py``), with the project's name written in: baking needs
  no network and no resolver;
- a git repository with everything staged, because pre-commit and the
  devcontainer's post-create step need one (skipped inside an existing repo);
- a short "next steps" message, which names the answers still at the template's
  example values (NetID, name, e-mail) and gives the command that fixes them.
"""

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
PROJECT = Path.cwd()
# The shipped locks are resolved for a project of this name (locks.py bakes it so).
LOCKED_AS = "genai-project"


def make_executable(paths):
    for path in paths:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def install_lock():
    """Move the shipped lock of the chosen TensorFlow into place, named for this project.

    uv.lock names the project as ``"NAME"`` and in its extras' markers as
    ``extra-LENGTH-NAME-EXTRA``; nothing else in it depends on the answers. The
    requirements/*.txt files do not name it. The other versions' locks are removed.
    """
    shipped = PROJECT / ".template-locks"
    source = shipped / f"tensorflow-{ANSWERS['tensorflow_version']}"
    name = re.sub(r"[-_.]+", "-", ANSWERS["project"]).lower()  # as uv writes it (PEP 503)
    text = (source / "uv.lock").read_text(encoding="utf-8")
    text = text.replace(f"extra-{len(LOCKED_AS)}-{LOCKED_AS}-", f"extra-{len(name)}-{name}-")
    text = text.replace(f'"{LOCKED_AS}"', f'"{name}"')
    (PROJECT / "uv.lock").write_text(text, encoding="utf-8")
    for pins in sorted((source / "requirements").glob("*.txt")):
        shutil.copyfile(pins, PROJECT / "requirements" / pins.name)
    shutil.rmtree(shipped)


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
    if not (PROJECT / ".git").exists():  # generated again over itself: keep its history
        subprocess.run(["git", "init", "--quiet", "-b", "main"], check=True)
    subprocess.run(["git", "add", "--all"], check=True)
    return "A git repository was made with every file staged: commit when ready."


# cookiecutter's own keys that describe one machine, not the project: not recorded.
NOT_RECORDED = {"_output_dir", "_repo_dir", "_checkout", "_template", "_commit"}


def is_url(template):
    """A URL or cookiecutter's gh:/gl:/bb: shorthand, not a folder."""
    return "://" in template or "@" in template or template[:3] in ("gh:", "gl:", "bb:")


def template_source():
    """(location, git directory) of the template, as the student named it; None if unknown.

    A URL (or gh:/gl:/bb: shorthand) is kept, expanded; cookiecutter cloned it to
    ``_repo_dir``. A local path is made absolute against the directory cookiecutter
    ran in ($PWD: the hook itself runs inside the new project).
    """
    template, repo_dir = str(ANSWERS.get("_template", "")), str(ANSWERS.get("_repo_dir", ""))
    if is_url(template):
        try:
            from cookiecutter.config import BUILTIN_ABBREVIATIONS
            from cookiecutter.repository import expand_abbreviations

            template = expand_abbreviations(template, BUILTIN_ABBREVIATIONS)
        except ImportError:
            pass
        return template, Path(repo_dir)
    local = Path(os.environ.get("PWD", "."), template).resolve()
    found = template and (local / "cookiecutter.json").is_file()
    return (origin_url(local) or str(local), local) if found else None


def origin_url(folder):
    """The URL a local clone was cloned from (its ``origin``), if it is a URL.

    A folder exists on one machine only; the URL lets `nox -s template-update`, and the
    weekly workflow on GitHub, find the template anywhere.
    """
    found = subprocess.run(
        ["git", "-C", str(folder), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    )
    url = found.stdout.strip() if found.returncode == 0 else ""
    return url if "://" in url or re.match(r"[\w.-]+@[\w.-]+:", url) else None


def record_template():
    """Write .cruft.json as `cruft create` would; return a note for the student."""
    if "_commit" in ANSWERS:  # generated by cruft, which writes the record itself
        return ""
    source = template_source()
    found = None
    if source is not None and shutil.which("git"):
        found = subprocess.run(
            ["git", "-C", str(source[1]), "rev-parse", "--verify", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    if found is None or found.returncode != 0:
        return (
            "The template is not a git repository here, so no .cruft.json was written;"
            " docs/template-updates.md says how to link the project."
        )
    template, commit = source[0], found.stdout.strip()
    context = {key: value for key, value in ANSWERS.items() if key not in NOT_RECORDED}
    context.update({"_template": template, "_commit": commit})
    record = {
        "template": template,
        "commit": commit,
        "checkout": ANSWERS.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
    }
    text = json.dumps(record, ensure_ascii=False, indent=2, separators=(",", ": "))
    (PROJECT / ".cruft.json").write_text(text + "\n", encoding="utf-8")
    note = f"Template {template} at commit {commit[:12]} recorded in .cruft.json."
    if Path(template).is_absolute():
        note += (
            f"\nwarning: the template is a folder on this machine ({template}), so template"
            "\n  updates (nox -s template-update) work only here: not on Quest, not in the"
            "\n  weekly GitHub check. To update anywhere, put the course template's URL in"
            '\n  .cruft.json ("template" and "_template") before your first commit.'
        )
    return note


# Answers whose defaults are examples, not the student's: (question, default, why it matters).
# The e-mail's default is made from the NetID; the jobscripts send no mail to the example.
PLACEHOLDERS = (
    ("author", "Your Name", "README.md and pyproject.toml"),
    ("netid", "abc1234", "Quest paths and commands (README, slurm/)"),
    ("email", "abc1234@u.northwestern.edu", "Slurm's job e-mails: none are sent until fixed"),
)


def placeholders_kept():
    """The lines that name answers left at their example values, and how to fix them."""
    kept = [(name, value, why) for name, value, why in PLACEHOLDERS if ANSWERS[name] == value]
    if not kept:
        return ""
    width = max(len(name) for name, _, _ in kept)
    lines = [f"  {name:<{width}}  {value!r:<30} used in {why}" for name, value, why in kept]
    fix = rerun_command({name for name, _, _ in kept})
    how = (
        f"Generate it again over itself; cookiecutter asks only these questions:\n  {fix}\n"
        "(with `uvx ` or `pipx run ` in front if that is how you started cookiecutter)."
        if fix
        else "Generate the project again and answer these questions."
    )
    return "These answers are still the template's examples (Enter keeps them):\n" + (
        "\n".join(lines) + "\n" + how
    )


def rerun_command(fields):
    """Save every other answer as a replay file; return the cookiecutter command that
    generates the project again over itself, asking only for ``fields``."""
    # As the pre-generation hook's rerun: every answer but these (and the prompts' texts).
    keep = {k: v for k, v in ANSWERS.items() if k not in fields and k != "__prompts__"}
    typed = str(ANSWERS.get("_template", "."))
    template = typed if is_url(typed) else str(Path(os.environ.get("PWD", "."), typed).resolve())
    name = re.sub(r"[^\w.-]", "_", re.sub(r"\.git$", "", Path(template).name)) or "template"
    try:
        folder = Path.home() / ".cookiecutter_replay"
        folder.mkdir(parents=True, exist_ok=True)
        saved = folder / f"{name}-examples.json"
        saved.write_text(json.dumps({"cookiecutter": keep}, indent=2), encoding="utf-8")
    except OSError:
        return None
    command = ["cookiecutter", "--replay-file", str(saved), template]
    command += ["--overwrite-if-exists", "--output-dir", str(PROJECT.parent)]
    return " ".join(shlex.quote(part) for part in command)


def next_steps(package, project):
    """The day-one commands, each with its comment in one column whatever the names."""
    steps = [
        (f"cd {project}", ""),
        ("python3 -m venv .venv && . .venv/bin/activate", "Python 3.11 or newer"),
        ("python requirements/check.py cpu-dev", 'the lock is up to date ("gpu-dev": NVIDIA)'),
        ("pip install --no-deps --require-hashes -r requirements/cpu-dev.txt", "exactly the lock"),
        ("pip install --no-deps -e .", "the project itself"),
        (f"python -m {package} gpu-check", "what TensorFlow sees"),
        ("nox -s tests lint", "the project's own checks"),
        ("code .", 'or in VS Code: "Reopen in Container"'),
    ]
    width = max(len(command) for command, _ in steps) + 2
    return "\n".join(
        f"  {command:<{width}}# {comment}" if comment else f"  {command}"
        for command, comment in steps
    )


def main():
    make_executable(sorted(PROJECT.glob("slurm/*.sh")))
    (PROJECT / "logs").mkdir(exist_ok=True)
    (PROJECT / "logs" / ".gitkeep").touch()
    install_lock()
    record_note = record_template()
    notes = "\n".join(note for note in (record_note, init_git()) if note)
    package, project = ANSWERS["package"], ANSWERS["project"]
    print(
        f"""
Created {PROJECT}
{notes}

Next steps (README.md explains each):
{next_steps(package, project)}
On Quest: bash slurm/setup_env.sh once, then sbatch slurm/gpu_check.sh
"""
    )
    warning = "" if "_commit" in ANSWERS else placeholders_kept()  # cruft: not a first bake
    if warning:
        print(warning + "\n")


if __name__ == "__main__":
    main()
