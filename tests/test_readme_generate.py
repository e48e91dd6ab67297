"""The README's "Generate a project" section, run exactly as written on a stock Debian Python.

Debian's /usr/bin/python3 refuses `pip install` outside a virtual environment
(PEP 668, "externally-managed-environment"), as on a student's fresh Debian or
Ubuntu. PATH holds only the system's programs and uv, so every command the
README gives meets that Python. The one line that names the course's repository
(`TEMPLATE=...`) is pointed at this checkout; every other line runs unchanged.
Also: the sample output of a rejected answer set is what cookiecutter prints,
and the rerun command it prints asks only the rejected questions again; the table of
questions is cookiecutter.json's.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from harness.bake import DEFAULTS, TEMPLATE, hook_constant
from harness.processes import run

README = (TEMPLATE / "README.md").read_text()
SYSTEM_PYTHON = "/usr/bin/python3"


def section(name: str) -> str:
    return README.split(f"<!-- {name} -->", 1)[1].split(f"<!-- /{name} -->", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


GENERATE = blocks(section("generate"), "bash")
TEMPLATE_LINE = GENERATE[0].strip()
COMMANDS = GENERATE[1:]


@pytest.fixture
def student(tmp_path: Path) -> dict[str, str]:
    """A student's environment: the system's programs, uv, an empty home."""
    if not Path(SYSTEM_PYTHON).is_file() or shutil.which("pipx", path="/usr/bin") is None:
        pytest.fail("needs Debian's python3, python3-venv, python3-pip and pipx (.ci/run)")
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("uv", "uvx"):
        (tools / tool).symlink_to(Path(shutil.which("uv")).parent / tool)
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(home), "VIRTUAL_ENV": ""}


def as_written(commands: str, env: dict[str, str], cwd: Path, stdin: str = ""):
    """Run README lines in bash, after the TEMPLATE line pointed at this checkout.

    Output and errors go to one stream, in the order a terminal shows them."""
    assert re.fullmatch(r"TEMPLATE=\S+", TEMPLATE_LINE), TEMPLATE_LINE
    script = f"set -euo pipefail\nexec 2>&1\nTEMPLATE={shlex.quote(str(TEMPLATE))}\n{commands}"
    cwd.mkdir(parents=True, exist_ok=True)
    return run(["bash", "-c", script], cwd=cwd, env=env, input=stdin, check=False)


def test_plain_pip_is_refused_by_this_python(student, tmp_path):
    """The premise: the README must not tell students to `pip install` into it."""
    refused = run([SYSTEM_PYTHON, "-m", "pip", "install", "cookiecutter"], env=student, check=False)
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stdout + refused.stderr
    assert not re.search(r"(?m)^\s*pip3? install", "\n".join(COMMANDS))


def test_installing_uv_with_pipx_as_the_table_says_puts_uvx_on_a_new_terminals_path(tmp_path):
    """pipx puts uvx in ~/.local/bin, which a fresh account's PATH lacks until ensurepath."""
    [install] = re.findall(r"\| \[uv\][^|]*\| `(pipx install uv[^`]*)`", section("generate"))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "VIRTUAL_ENV": ""}
    run(["bash", "-c", install], env=env)
    # A new terminal: an interactive bash reads the ~/.bashrc that ensurepath extended.
    found = run(["bash", "-ic", "command -v uvx"], env=env, check=False)
    assert found.stdout.strip() == f"{tmp_path}/.local/bin/uvx", found.stdout + found.stderr


def test_windows_students_are_sent_to_wsl_not_powershell():
    text = section("generate")
    assert "winget" not in text and "```powershell" not in text
    assert "wsl --install" in text and "Ubuntu terminal" in text


def test_the_section_has_the_three_ways_and_the_template_forms():
    text = section("generate")
    assert [c.split()[0] for c in COMMANDS[:2]] == ["uvx", "pipx"]
    assert "python3 -m venv" in COMMANDS[2]
    for form in ("gh:", "https://", "~/"):
        assert "`TEMPLATE=`" in text and re.search(rf"\| `{re.escape(form)}", text), form


@pytest.mark.parametrize("number", range(len(COMMANDS)), ids=lambda n: COMMANDS[n].split()[0])
def test_readme_command_generates_a_project(student, tmp_path, number):
    commands = COMMANDS[number]
    # Enter for every question: the defaults (the --no-input example asks nothing).
    done = as_written(commands, student, tmp_path / "work", stdin="\n" * 40)
    assert done.returncode == 0, done.stdout + done.stderr
    project = tmp_path / "work" / "genai-project"
    assert (project / "pyproject.toml").is_file() and (project / ".git").is_dir()
    for answer in re.findall(r"\b(\w+)=(\S+)", commands):
        if answer[0] == "gpu":
            assert f"--gres=gpu:{answer[1]}:" in (project / "slurm" / "train.sh").read_text()


def normalise(output: str, home: str) -> list[str]:
    """Real output in the README's terms: its paths, its URL, no trailing spaces."""
    text = output.replace(home, "/home/you")
    text = text.replace(f"{TEMPLATE.name}-rerun.json", "genai-quest-template-rerun.json")
    text = text.replace(shlex.quote(str(TEMPLATE)), TEMPLATE_LINE.split("=", 1)[1])
    text = re.sub(r'File "[^"]*/cookiecutter/', 'File ".../cookiecutter/', text)
    return [line.rstrip() for line in text.splitlines()]


def test_rejected_answers_look_as_the_readme_shows_and_rerun_asks_only_those(student, tmp_path):
    sample = blocks(section("rerun"), "text")[0].splitlines()
    command = sample[0].removeprefix("$ ")
    done = as_written(command, student, tmp_path / "work")
    assert done.returncode != 0
    assert not (tmp_path / "work" / "genai-project").exists()
    seen = normalise(done.stdout, student["HOME"])
    # The README's lines, in order (uvx may add its own "Installed ..." line first).
    expected = [line.rstrip() for line in sample[1:]]
    position = 0
    for line in expected:
        assert line in seen[position:], (
            f"README line not printed (in order): {line!r}\n" + "\n".join(seen)
        )
        position = seen.index(line, position) + 1
    # The printed rerun command, with uvx in front as the message says: only the
    # NetID, the e-mail made from it and the wall time are asked again.
    rerun = next(line.strip() for line in done.stdout.splitlines() if "--replay-file" in line)
    again = run(["bash", "-c", f"uvx {rerun}"], cwd=tmp_path / "work", env=student,
                input="xyz9876\n\n12:00:00\n", check=False)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    asked = re.findall(r"\[\d+/(\d+)\]", again.stdout)
    assert asked and set(asked) == {"3"}, again.stdout
    train = (tmp_path / "work" / "genai-project" / "slurm" / "train.sh").read_text()
    assert "#SBATCH --time=12:00:00" in train
    assert "#SBATCH --mail-user=xyz9876@u.northwestern.edu" in train


def question_table() -> dict[str, tuple[str, str]]:
    """The README's table of questions: {question: (default, rule)}."""
    table = README.split("| question | default | rule |\n", 1)[1].split("\n\n", 1)[0]
    return {m[0]: m[1:] for m in re.findall(r"^\| `(\w+)` \| ([^|]*) \| (.*) \|$", table, re.M)}


def test_readme_question_table_is_cookiecutter_json():
    """Every question, in cookiecutter.json's order, with its default; a choice's rule
    names every choice."""
    rows = question_table()
    questions = {key: value for key, value in DEFAULTS.items() if not key.startswith("_")}
    assert list(rows) == list(questions)
    for name, value in questions.items():
        default, rule = rows[name]
        if isinstance(value, list):
            assert default == f"`{value[0]}`", name
            assert all(f"`{choice}`" in rule for choice in value), (name, rule)
        elif "{{" not in value:  # a default made from another answer is told in words
            assert default == f"`{value}`", name


def test_readme_question_table_states_the_hooks_limits():
    rule = {name: row[1] for name, row in question_table().items()}
    for partition, hours in hook_constant("PARTITION_MAX_HOURS").items():
        told = f"{partition} {hours // 24} days" if hours > 48 else f"{partition} {hours} h"
        assert told in rule["walltime"], told
    for megabytes in set(hook_constant("PARTITION_MAX_MEM_MB").values()):
        assert f"{megabytes // 1024}G" in rule["mem"], megabytes
    assert f"1–{hook_constant('MAX_GPUS_PER_NODE')} " in rule["gpus_per_node"]
    assert f"at most {hook_constant('MAX_GPUS_PER_USER')} " in rule["gpus_per_node"]
    assert f"1–{hook_constant('MAX_NODES')}," in rule["nodes"]
    assert f"at most {hook_constant('MAX_NAME')}" in rule["project"]
    assert f"at most {hook_constant('MAX_PACKAGE')} " in rule["package"]
    assert f"at most {hook_constant('MAX_PROJECT_NAME_WIDTH')} columns" in rule["project_name"]
