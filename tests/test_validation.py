"""Every bad answer is rejected with a message naming the field, and nothing is left behind."""

import importlib.util
import json
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers import (
    DEFAULTS,
    TEMPLATE,
    bake,
    bake_refused,
    hook_constant,
    parse_data_files,
    project_venv,
    rendered_files,
    run,
)

CHOICE_QUESTIONS = [k for k, v in DEFAULTS.items() if isinstance(v, list) and k[0] != "_"]
# (answers, the field the message must name). Covers every validated field and
# every cross-field rule (gpu vs partition, walltime vs partition, GPU totals).
BAD_ANSWERS = [
    ({"project_name": "   "}, "project_name"),
    ({"project_name": "two\nlines"}, "project_name"),
    ({"project": "My Project"}, "project"),
    ({"project": "2fast"}, "project"),
    ({"project": "trailing-"}, "project"),
    ({"package": "class"}, "package"),
    ({"package": "json"}, "package"),
    ({"package": "has-dash"}, "package"),
    ({"author": ""}, "author"),
    ({"netid": "ABC1234"}, "netid"),
    ({"netid": "ab12345"}, "netid"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "a;rm -rf ~@x.edu"}, "email"),
    ({"quest_account": "x12345"}, "quest_account"),
    ({"quest_account": "p123"}, "quest_account"),
    ({"partition": "gengpu", "gpu": "none"}, "gpu"),
    ({"partition": "short", "gpu": "a100"}, "gpu"),
    ({"gpus_per_node": "0"}, "gpus_per_node"),
    ({"gpus_per_node": "5"}, "gpus_per_node"),
    ({"gpus_per_node": "two"}, "gpus_per_node"),
    ({"gpus_per_node": "4", "nodes": "3"}, "gpus_per_node"),
    ({"nodes": "0"}, "nodes"),
    ({"walltime": "10 minutes"}, "walltime"),
    ({"walltime": "00:61:00"}, "walltime"),
    ({"walltime": "00:00:00"}, "walltime"),
    ({"partition": "short", "gpu": "none", "walltime": "04:00:01"}, "walltime"),
    ({"walltime": "3-00:00:00"}, "walltime"),
    ({"partition": "long", "gpu": "none", "walltime": "8-00:00:00"}, "walltime"),
    ({"mem": "20GB"}, "mem"),
    ({"mem": "0G"}, "mem"),
    ({"partition": "short", "gpu": "none", "mem": "500G"}, "mem"),
    ({"partition": "short", "gpu": "none", "mem": "238G"}, "mem"),  # Slurm: 1G = 1024M
    ({"mem": "490001M"}, "mem"),
]


@pytest.mark.parametrize(("answers", "field"), BAD_ANSWERS, ids=lambda x: str(x))
def test_bad_answer_is_rejected(tmp_path, capfd, answers, field):
    message = bake_refused(tmp_path, capfd, **answers)
    assert f"  - {field}: " in message
    assert "for example:" in message
    assert "nothing was generated" in message


def test_all_problems_are_reported_at_once(tmp_path, capfd):
    answers = {"netid": "X", "quest_account": "Y", "mem": "lots", "walltime": "soon"}
    message = bake_refused(tmp_path, capfd, **answers)
    assert "4 answer(s) need fixing" in message
    for field in answers:
        assert f"  - {field}: " in message


# tensorflow_version: a version with no lock shipped (issue 25, item 20) is refused before any
# install: 2.99.0 does not exist, 2.22.0 has release candidates only, 2.16.0 was never out.
OUTSIDE_THE_LIST = [
    ("partition", "gpu"),
    ("python_version", "3.9"),
    ("tensorflow_version", "2.99.0"),
    ("tensorflow_version", "2.22.0"),
    ("tensorflow_version", "2.16.0"),
    ("tensorflow_version", "2.٢١.0"),  # not for pip
]


@pytest.mark.parametrize(("key", "value"), OUTSIDE_THE_LIST)
def test_choice_outside_the_list_is_rejected_by_cookiecutter(tmp_path, capfd, key, value):
    message = bake_refused(tmp_path, capfd, **{key: value})
    assert f"provided for choice variable {key}" in message  # cookiecutter's words, not ours


def replay_file(path: Path, **answers: str) -> Path:
    """A complete cookiecutter replay file: the defaults (first of each choice), then answers."""
    saved = {k: v[0] if isinstance(v, list) and k[0] != "_" else v for k, v in DEFAULTS.items()}
    saved |= {"project": "genai-project", "package": "genai_project"}
    saved |= {"email": "abc1234@u.northwestern.edu"}
    path.write_text(json.dumps({"cookiecutter": {**saved, **answers}}))
    return path


@pytest.mark.parametrize(
    ("key", "value"), [(key, "no-such-choice") for key in CHOICE_QUESTIONS] + OUTSIDE_THE_LIST
)
def test_choice_outside_the_list_in_a_replay_file_is_rejected_by_the_hook(
    tmp_path, capfd, key, value
):
    """cookiecutter takes a replay file (`--replay-file`, which a rejected bake writes for
    its rerun) as it is: there the hook is what refuses a choice outside its list."""
    assert bake(tmp_path / "good", replay_file(tmp_path / "good.json")).exists()
    bad = replay_file(tmp_path / "bad.json", **{key: value})
    message = bake_refused(tmp_path / "out", capfd, replay_file=bad)
    assert f"  - {key}: {value!r} is not one of {', '.join(DEFAULTS[key])}" in message


def test_every_question_has_a_bad_answer():
    """A new question gets a row in BAD_ANSWERS (or, a choice, the tests above)."""
    questions = {key for key in DEFAULTS if not key.startswith("_")}
    assert {field for _, field in BAD_ANSWERS} | set(CHOICE_QUESTIONS) == questions


@pytest.mark.parametrize("table", ["PARTITION_MAX_HOURS", "PARTITION_MAX_MEM_MB"])
def test_hook_has_a_limit_for_every_partition_and_no_other(table):
    assert sorted(hook_constant(table)) == sorted(DEFAULTS["partition"])


def test_hostile_answer_is_data_not_code(tmp_path, capfd):
    # Were the hook to paste answers into its code, this would print XXXY.
    evil = '"""; print("X" * 3 + "Y"); """'
    message = bake_refused(tmp_path, capfd, **{"netid": evil})
    assert "XXXY" not in message
    assert f"  - netid: {evil!r} is not a Northwestern NetID" in message


@pytest.mark.parametrize(("partition", "mem"), [("short", "237G"), ("gengpu", "490000M")])
def test_largest_node_memory_is_accepted(tmp_path, partition, mem):
    gpu = "a100" if partition == "gengpu" else "none"
    assert bake(tmp_path, partition=partition, gpu=gpu, mem=mem).exists()


def test_gpus_per_node_may_be_zero_without_gpus(tmp_path):
    project = bake(tmp_path, partition="short", gpu="none", gpus_per_node="0")
    assert project.exists()


# -- names and lengths -------------------------------------------------------------

NAME_ANSWERS = [
    ({"walltime": "٠٠:١٠:٠٠"}, "walltime"),  # Arabic-Indic digits: not for Slurm
    ({"walltime": "１０"}, "walltime"),  # fullwidth digits
    ({"gpus_per_node": "²"}, "gpus_per_node"),
    ({"project": "python3"}, "project"),  # its console script would replace the venv's python3
    ({"project": "python"}, "project"),
    ({"project": "pip"}, "project"),
    ({"project": "pytest"}, "project"),  # a dependency: pip cannot install both
    ({"project": "nox"}, "project"),
    ({"project": "git"}, "project"),  # pre-commit runs git
    ({"project": "tensorflow-cpu"}, "project"),
    ({"project": "scikit-learn"}, "project"),
    ({"project": "x" * 65}, "project"),
    ({"package": "__main__"}, "package"),
    ({"package": "absl"}, "package"),  # TensorFlow imports it
    ({"package": "sklearn"}, "package"),  # the tests import it
    ({"package": "pil"}, "package"),  # PIL on a case-insensitive file system
    ({"package": "yaml"}, "package"),  # pre-commit imports it
    ({"package": "conftest"}, "package"),
    ({"package": "test_cli"}, "package"),
    ({"package": "x" * 65}, "package"),
    ({"package": "x" * 256}, "package"),  # once: "File name too long" half-way through the bake
]


@pytest.mark.parametrize(("answers", "field"), NAME_ANSWERS, ids=lambda x: str(x)[:40])
def test_bad_name_is_rejected(tmp_path, capfd, answers, field):
    message = bake_refused(tmp_path, capfd, **answers)
    assert f"  - {field}: " in message


@pytest.mark.parametrize("project", ["a/b", "../escape", "../../x/y", "..", "/tmp/abs", "x" * 300])
def test_no_directory_is_left_anywhere_on_rejection(tmp_path, capfd, project):
    """cookiecutter makes the project's directory before the hook runs; the name must not
    reach outside the output folder, nor leave a parent behind inside it."""
    out = tmp_path / "a" / "out"
    message = bake_refused(out, capfd, **{"project": project, "package": "pkg"})
    assert "  - project: " in message
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [
        Path("a"),
        Path("a/out"),
    ]


def test_longest_names_bake_and_install(tmp_path):
    """The length limit is one the file system can hold: the longest names install."""
    project = bake(tmp_path, project="p" * 64, package="k" * 64)
    run(["uv", "venv", "--quiet", str(project / ".venv")])
    # --python, not VIRTUAL_ENV: under nox, uv would install into the session's environment.
    python = project / ".venv" / "bin" / "python"
    run(
        ["uv", "pip", "install", "--quiet", "--no-deps", "--python", python, "-e", "."], cwd=project
    )
    run([python, "-c", f"import {'k' * 64}"])


def test_reserved_names_match_the_dependency_closure(tmp_path):
    """hooks/reserved_names.json holds every module, command and distribution that the
    project's real install brings (the cpu and dev extras): if a dependency adds one,
    this fails and says how to regenerate the file."""
    project = bake(tmp_path)
    python = project_venv(project, "cpu,dev") / "python"
    spec = importlib.util.spec_from_file_location("reserved", TEMPLATE / "hooks/reserved_names.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = module.reserved_names(str(python), project.name)
    listed = json.loads((TEMPLATE / "hooks" / "reserved_names.json").read_text())
    for kind, names in found.items():
        missing = set(names) - set(listed[kind])
        assert not missing, (
            f"{kind} {sorted(missing)} are not in hooks/reserved_names.json; regenerate it: "
            "python hooks/reserved_names.py <baked project>/.venv/bin/python "
            "> hooks/reserved_names.json"
        )
    assert "absl" in found["modules"] and "python3" in found["commands"]  # the lister works


# -- property: any text in any free-text answer ------------------------------------
# A valid project (every TOML/JSON/YAML file parses, every .py compiles, every .sh
# passes bash -n, #SBATCH lines and pip's pins are ASCII) or a rejection that names
# the field (or the field made from it), leaves nothing behind and shows no traceback
# from our hooks. Examples are bounded: a bake takes a fraction of a second.

FREE_TEXT = [k for k, v in DEFAULTS.items() if isinstance(v, str) and not k.startswith("_")]
# Answers whose defaults are made from another answer.
DERIVED = {"project_name": {"project", "package"}, "project": {"package"}, "netid": {"email"}}
# Characters that break things: separators, quotes, shell and Slurm syntax, non-ASCII digits.
NASTY = list("/\\.:-_@ '\"$`;#%&|<>()*?!~\n\t\r\x00") + ["٠", "١", "²", "１", "é", "😀", "‮"]


def answer_text():
    near_defaults = st.sampled_from(FREE_TEXT).flatmap(
        lambda field: st.builds(
            lambda d, i, extra: d[:i] + extra + d[i:],
            st.just(DEFAULTS[field]),
            st.integers(0, len(DEFAULTS[field])),
            st.text(st.sampled_from(NASTY) | st.characters(), max_size=4),
        )
    )
    return st.one_of(
        st.text(max_size=40),
        st.text(st.sampled_from(NASTY + list("abcxyz0123456789")), max_size=20),
        near_defaults,
        st.sampled_from(["python3", "pytest", "__main__", "absl", "x" * 256, "..", "a/b"]),
    ).filter(lambda text: not any(m in text for m in ("{{", "{%", "{#")))
    # (cookiecutter itself renders answers as Jinja before our hooks run: not ours to test)


def check_valid_project(project: Path) -> None:
    parse_data_files(project)
    for path in rendered_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            compile(text, str(path), "exec")
        elif path.suffix == ".sh":
            found = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            assert found.returncode == 0, f"{path}: {found.stderr}"
            for line in text.splitlines():  # Slurm reads these: ASCII only
                assert not line.startswith("#SBATCH") or line.isascii(), f"{path}: {line}"
    extras = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    for requirement in extras["optional-dependencies"]["cpu"]:  # pip reads these
        assert requirement.isascii(), requirement


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(FREE_TEXT), value=answer_text())
@example(field="walltime", value="٠٠:١٠:٠٠")
@example(field="project", value="../escape")
def test_any_answer_bakes_a_valid_project_or_is_rejected_by_name(capfd, field, value):
    capfd.readouterr()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        try:
            project = bake(out, **{field: value})
        except FailedHookException:
            err = capfd.readouterr().err
            assert "Traceback" not in err, err
            named = {field} | DERIVED.get(field, set())
            assert any(f"  - {name}: " in err for name in named), err
            assert list(out.iterdir()) == [], "a rejected bake left files behind"
            assert sorted(p.name for p in Path(tmp).iterdir()) == ["out"]
            return
        assert "Traceback" not in capfd.readouterr().err
        check_valid_project(project)
