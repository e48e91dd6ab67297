"""What a bake prints at its end, run as a student runs cookiecutter (its own process).

The "Next steps" are commands that work as pasted on Debian (``python3``) and keep
their comments in one column whatever the names; answers left at the template's
examples are named with the command that fixes them, and that command works; no
jobscript mails the example address; a template taken from a folder is warned
about (that path exists on one machine only), and a clone records its URL.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from harness.bake import DEFAULTS, TEMPLATE, hook_constant, template_repo
from harness.processes import run

EXAMPLE_EMAIL = "abc1234@u.northwestern.edu"


def cookiecutter(tmp_path: Path, *args: str, template: Path = TEMPLATE, stdin: str = ""):
    """`cookiecutter TEMPLATE ARGS` in a home of its own; returns the finished process."""
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    cmd = ["cookiecutter", str(template), "--output-dir", str(tmp_path / "out"), *args]
    return run(cmd, cwd=tmp_path, env={"HOME": str(home)}, input=stdin)


def next_steps(output: str) -> list[str]:
    return output.split("Next steps", 1)[1].split("\nOn Quest:", 1)[0].splitlines()[1:]


@pytest.mark.parametrize("package", ["p", "a_much_longer_package_name_here"])
def test_next_steps_run_on_debian_and_keep_their_comments_in_one_column(tmp_path, package):
    done = cookiecutter(tmp_path, "--no-input", f"package={package}")
    steps = next_steps(done.stdout)
    assert f"  python -m {package} gpu-check" in "\n".join(steps)
    assert any(step.lstrip().startswith("python3 -m venv .venv") for step in steps), steps
    assert not any(re.match(r"\s*python -m venv", step) for step in steps), steps
    columns = {step.index("#") for step in steps if "#" in step}
    assert len(columns) == 1, "\n".join(steps)


def test_post_gen_examples_are_cookiecutter_json_defaults():
    placeholders = hook_constant("PLACEHOLDERS", hook="post_gen_project")
    examples = {name: value for name, value, _ in placeholders}
    assert examples == {
        "author": DEFAULTS["author"],
        "netid": DEFAULTS["netid"],
        "email": f"{DEFAULTS['netid']}@u.northwestern.edu",
    }
    jobscript = (TEMPLATE / "{{cookiecutter.project}}" / "slurm" / "train.sh").read_text()
    assert f'cookiecutter.email != "{examples["email"]}"' in jobscript


def mail_lines(project: Path) -> dict[str, list[str]]:
    return {
        script.name: re.findall(r"^#SBATCH --mail-\S+", script.read_text(), re.M)
        for script in sorted((project / "slurm").glob("*.sh"))
        if re.search(r"^#SBATCH", script.read_text(), re.M)  # the jobscripts
    }


def test_examples_are_named_no_mail_goes_to_them_and_the_printed_command_fixes_them(tmp_path):
    done = cookiecutter(tmp_path, "--no-input")
    project = tmp_path / "out" / "genai-project"
    warning = done.stdout.split("These answers are still the template's examples", 1)[1]
    for name, value in (("author", "Your Name"), ("netid", "abc1234"), ("email", EXAMPLE_EMAIL)):
        assert re.search(rf"^  {name} +'{re.escape(value)}'", warning, re.M), warning
    jobscripts = {"gpu_check.sh", "train.sh", "sweep.sh", "multiworker.sh", "ide.sh"}
    assert set(mail_lines(project)) == jobscripts, mail_lines(project)
    assert all(lines == [] for lines in mail_lines(project).values())
    assert EXAMPLE_EMAIL not in "".join(p.read_text() for p in (project / "slurm").glob("*.sh"))
    # The printed command: only the three questions, in the same folder, over the project.
    command = next(line.strip() for line in warning.splitlines() if "--replay-file" in line)
    again = run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env={"HOME": str(tmp_path / "home")},
        input="Ada Lovelace\nxyz9876\n\n",
    )
    assert re.findall(r"\[\d+/(\d+)\]", again.stdout) == ["3"] * 3, again.stdout
    assert "still the template's examples" not in again.stdout
    user = "#SBATCH --mail-user=xyz9876@u.northwestern.edu"
    for script, lines in mail_lines(project).items():  # ide.sh: BEGIN too (the session is up)
        kinds = "BEGIN,END,FAIL" if script == "ide.sh" else "END,FAIL"
        assert set(lines) == {f"#SBATCH --mail-type={kinds}", user}, script
    assert 'name = "Ada Lovelace"' in (project / "pyproject.toml").read_text()
    assert "A git repository was made" in again.stdout  # the same repository, not a second


def test_own_answers_get_no_warning(tmp_path):
    done = cookiecutter(tmp_path, "--no-input", "netid=xyz9876", "author=Ada Lovelace")
    assert "still the template's examples" not in done.stdout


def test_a_template_folder_is_warned_about_and_a_clone_records_its_url(tmp_path):
    folder = cookiecutter(tmp_path / "folder", "--no-input")
    assert f"warning: the template is a folder on this machine ({TEMPLATE})" in folder.stdout
    # A clone of the course's repository: .cruft.json names the URL, usable anywhere.
    clone = template_repo(tmp_path / "clone")
    url = "https://github.com/nu-genai/genai-quest-template.git"
    run(["git", "remote", "add", "origin", url], cwd=clone)
    cloned = cookiecutter(tmp_path / "cloned", "--no-input", template=clone)
    record = json.loads((tmp_path / "cloned" / "out" / "genai-project" / ".cruft.json").read_text())
    assert record["template"] == record["context"]["cookiecutter"]["_template"] == url
    assert "folder on this machine" not in cloned.stdout
    assert shlex.quote(str(clone)) not in json.dumps(record)
