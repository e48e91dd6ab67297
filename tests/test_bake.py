"""Baking: every choice, odd names; output fully rendered and every data file parses."""

import re
import tomllib

import pytest

from harness.bake import DEFAULTS, bake
from harness.files import parse_data_files, rendered_files
from harness.processes import run

# Each choice value of cookiecutter.json appears in at least one of these
# (test_matrix_covers_every_choice proves it), with the free fields varied too.
MATRIX = [
    {},
    {"partition": "gengpu", "gpu": "h100", "gpus_per_node": "2", "python_version": "3.13"},
    {
        "partition": "gengpu",
        "gpu": "any",
        "gpus_per_node": "4",
        "nodes": "2",
        "walltime": "2-00:00:00",
        "python_version": "3.11",
        "mem": "64G",
    },
    {
        "partition": "short",
        "gpu": "none",
        "gpus_per_node": "0",
        "walltime": "04:00:00",
        "mem": "4000M",
    },
    {
        "partition": "normal",
        "gpu": "none",
        "walltime": "1-12:00:00",
        "tensorflow_version": "2.20.0",
    },
    {"partition": "long", "gpu": "none", "walltime": "7-00:00:00", "quest_account": "b1042"},
]

ODD_NAMES = [
    'Ada\'s "Quoted" Project',
    '"""; import os; os.system("echo pwned") #',
    "Café Ünïcödé 生成モデル 😀",
    "   Spaces Around   ",
    "back\\slash & <angle> 'single' $HOME `tick`",
]


def test_matrix_covers_every_choice():
    for key, choices in DEFAULTS.items():
        if isinstance(choices, list) and not key.startswith("_"):  # _extensions is no choice
            used = {answers.get(key, choices[0]) for answers in MATRIX}
            assert used == set(choices), f"{key}: {set(choices) - used} never baked"


def assert_fully_rendered(project):
    """No Jinja left behind: not in file contents, not in file or folder names."""
    for path in rendered_files(project):
        assert "{{" not in str(path) and "{%" not in str(path), path
        text = path.read_text(encoding="utf-8")
        if ".github" in path.relative_to(project).parts:
            text = re.sub(r"\$\{\{.*?\}\}", "", text)  # GitHub's expressions, not Jinja
        for marker in ("{{", "{%", "cookiecutter."):
            assert marker not in text, f"{marker!r} left in {path}"


@pytest.mark.parametrize("answers", MATRIX, ids=lambda a: "-".join(a.values()) or "defaults")
def test_bake_matrix(tmp_path, answers):
    project = bake(tmp_path, **answers)
    assert (project / "logs" / ".gitkeep").exists()
    assert_fully_rendered(project)
    counts = parse_data_files(project)
    assert counts["toml"] >= 1 and counts["yaml"] >= 1
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    version = answers.get("tensorflow_version", DEFAULTS["tensorflow_version"][0])
    assert f"tensorflow-cpu=={version}" in pyproject["project"]["optional-dependencies"]["cpu"][0]
    # The lock shipped for that version, and only it (tests/test_lock.py: it is exact).
    lock = tomllib.loads((project / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    assert locked["tensorflow-cpu"] == locked["tensorflow"] == version
    assert not (project / ".template-locks").exists()


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_project_names(tmp_path, name):
    project = bake(tmp_path, project_name=name, author=name, project="odd-name")
    assert_fully_rendered(project)
    parse_data_files(project)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["authors"][0]["name"] == name.strip()
    assert name.strip() in pyproject["project"]["description"]
    # The package's docstring holds the name: the module must still import.
    run(["python", "-c", "import odd_name; print(odd_name.__doc__)"], cwd=project / "src")


def test_names_are_derived_from_the_project_name(tmp_path):
    project = bake(tmp_path, project_name="My Diffusion Lab")
    assert project.name == "my-diffusion-lab"
    assert (project / "src" / "my_diffusion_lab" / "__init__.py").exists()


def test_project_is_a_git_repo_with_everything_staged(tmp_path):
    project = bake(tmp_path)
    staged = run(["git", "diff", "--cached", "--name-only"], cwd=project).stdout.split()
    assert "pyproject.toml" in staged and "logs/.gitkeep" in staged


def test_scripts_are_executable(tmp_path):
    project = bake(tmp_path)
    scripts = list((project / "slurm").glob("*.sh"))
    assert scripts, "the project has no jobscripts"
    for script in scripts:
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
