"""Every bad answer is rejected with a message naming the field, and nothing is left behind."""

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from email.headerregistry import Address
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.bake import DEFAULTS, TEMPLATE, bake, bake_refused, hook_constant
from harness.files import parse_data_files, rendered_files
from harness.processes import python_for, run
from harness.venvs import project_venv

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
    ({"email": "first..last@x.com"}, "email"),  # setuptools refuses these three
    ({"email": ".a@x.com"}, "email"),
    ({"email": "a.@x.com"}, "email"),
    ({"email": "a@-x.com"}, "email"),
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
    ({"package": "x" * 33}, "package"),  # lines with it would pass 100 columns
    ({"package": "x" * 256}, "package"),
    ({"package": "chunk"}, "package"),  # in 3.11's standard library, not in 3.13's
    ({"package": "imghdr"}, "package"),
    ({"package": "distutils"}, "package"),
    ({"package": "tomllib"}, "package"),  # not in 3.10's
    ({"project": "rm"}, "project"),  # the Dockerfile runs it
    ({"project": "tini"}, "project"),
    ({"project": "apt-get"}, "project"),
    ({"project": "hostname"}, "project"),
    ({"project": "which"}, "project"),
    ({"project": "iconv"}, "project"),
    ({"project": "start-code-server"}, "project"),
    ({"project_name": "x" * 65}, "project_name"),
    ({"project_name": '"' * 33}, "project_name"),  # written \" in __init__.py: 66 columns
    ({"project_name": "漢" * 33}, "project_name"),  # wide: 66 columns
    ({"project_name": "Caf\udce9"}, "project_name"),  # Latin-1 bytes as Python reads them
    ({"author": "Caf\udce9"}, "author"),  # once: "File name too long" half-way through the bake
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


def test_longest_names_bake_lint_and_install(tmp_path):
    """The limits are ones the project keeps: the longest and widest answers pass its own
    lint (ruff, as `nox -s lint` runs it) and install (setuptools reads the e-mail)."""
    package = "k" * hook_constant("MAX_PACKAGE")
    widest = '\\"' + "漢" * ((hook_constant("MAX_PROJECT_NAME_WIDTH") - 4) // 2)
    project = bake(
        tmp_path,
        project="p" * hook_constant("MAX_NAME"),
        package=package,
        project_name=widest,
        author='O\'Neil "the" <Ada> \\ ' + "a" * 200,
        email="first.last+x_y%z@a-b.c-d.edu",
    )
    assert not ruff_problems(project)
    run(["uv", "venv", "--quiet", str(project / ".venv")])
    # --python, not VIRTUAL_ENV: under nox, uv would install into the session's environment.
    python = project / ".venv" / "bin" / "python"
    run(
        ["uv", "pip", "install", "--quiet", "--no-deps", "--python", python, "-e", "."], cwd=project
    )
    run([python, "-c", f"import {package}"])


def test_latin1_answer_on_the_command_line_leaves_nothing(tmp_path):
    """A terminal set to Latin-1 sends 'Café' as bytes that are not UTF-8: refused by name,
    before cookiecutter writes a file it cannot encode (it used to stop half-way)."""
    out = tmp_path / "out"
    out.mkdir()
    cmd = [shutil.which("cookiecutter"), "--no-input", "-o", str(out), str(TEMPLATE)]
    found = subprocess.run(
        [os.fsencode(part) for part in cmd] + [b"project_name=Caf\xe9"],
        capture_output=True,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
        cwd=tmp_path,
    )
    assert found.returncode != 0
    assert b"  - project_name: 'Caf\\udce9' is not valid UTF-8 text" in found.stderr
    assert list(out.iterdir()) == []


def test_stdlib_names_cover_every_offered_python():
    """The hook refuses the standard library of the project's Python, whichever Python runs
    cookiecutter: the names some offered Python has and another lacks are in the hook."""
    pythons = [*DEFAULTS["python_version"], "3.10"]  # 3.10 may still run cookiecutter
    listing = "import sys; print(*sys.stdlib_module_names)"
    names = [set(run([python_for(v), "-c", listing]).stdout.split()) for v in pythons]
    differences = set.union(*names) - set.intersection(*names)
    assert differences <= hook_constant("STDLIB_DIFFERENCES"), sorted(
        differences - hook_constant("STDLIB_DIFFERENCES")
    )


# A word at a command's place in shell: after a line start, ; | && || ( $( ` then do else.
COMMAND_PLACE = re.compile(r"(?:^|[;|&(`]|\$\(|\bthen\b|\bdo\b|\belse\b)\s*([A-Za-z][\w.-]*)", re.M)


def commands_run_by(project: Path) -> set[str]:
    """The programs the project's Dockerfile, scripts and README code blocks start: words at
    a command's place that are programs on this machine, and the image's ENTRYPOINT/CMD."""
    texts = [path.read_text() for path in project.rglob("*.sh")]
    dockerfile = (project / "Dockerfile").read_text()
    texts += re.findall(r"^RUN ((?:.*\\\n)*.*)", dockerfile, re.M)
    for path in [project / "README.md", *project.glob("docs/*.md")]:
        fence, block = None, []  # the fence's language inside a code block, and its lines
        for line in path.read_text().splitlines():
            if line.startswith("```") and fence is None:
                fence, block = line[3:].strip(), []
            elif line.startswith("```"):
                if fence in ("", "bash", "sh", "shell", "console"):
                    texts.append("\n".join(block))
                fence = None
            else:
                block.append(line)
    # Comments and quoted text without a $(...) in it are not commands.
    texts = [re.sub(r"(^|\s)#.*|\"[^\"$`]*\"|'[^']*'", " ", text) for text in texts]
    words = {word for text in texts for word in COMMAND_PLACE.findall(text) if shutil.which(word)}
    for listed in re.findall(r"^(?:ENTRYPOINT|CMD) \[\"([^\"]+)\"", dockerfile, re.M):
        words.add(listed)
    return {word for word in words if re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", word)}


def test_every_command_the_project_runs_is_refused_as_project_name(tmp_path, capfd):
    """`project` names the console script, first on PATH in the venv and the image: it must
    not be a program that the Dockerfile, a jobscript or the README runs."""
    found = commands_run_by(bake(tmp_path / "default"))
    assert {"rm", "tini", "apt-get", "git", "mkdir"} <= found  # the extraction works
    refused = hook_constant("SYSTEM_COMMANDS") | set(
        json.loads((TEMPLATE / "hooks" / "reserved_names.json").read_text())["commands"]
    )
    python_like = re.compile(r"(python|pip|pydoc|idle)[0-9]*")
    missing = {word for word in found if word not in refused and not python_like.fullmatch(word)}
    assert not missing, f"add to SYSTEM_COMMANDS in hooks/pre_gen_project.py: {sorted(missing)}"
    message = bake_refused(tmp_path / "rm", capfd, project="rm")
    assert "  - project: 'rm' would replace a command" in message


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
NASTY += ["\udce9", "漢"]  # a Latin-1 byte as Python reads it; a wide character


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
        # answers that once baked a broken project (issue 25: 15-19)
        st.sampled_from(["rm", "tini", "hostname", "chunk", "imghdr", "distutils", "Caf\udce9"]),
        st.sampled_from(["first..last@x.com", ".a@x.com", "a.@x.com", "a@x..com", "k" * 33]),
        st.builds(lambda c, n: c * n, st.sampled_from(list('x"\\漢é')), st.integers(30, 70)),
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
        # pre-commit's trailing-whitespace rule: lines end at b"\n" only (not at U+2028),
        # and whitespace is ASCII's.
        for number, line in enumerate(text.encode().split(b"\n"), start=1):
            line = line.rstrip(b"\r")
            assert line == line.rstrip(), f"{path}:{number}: trailing whitespace"
    extras = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    for requirement in extras["optional-dependencies"]["cpu"]:  # pip reads these
        assert requirement.isascii(), requirement
    for person in extras["authors"]:  # what setuptools does with them at install
        Address(display_name=person["name"], addr_spec=person["email"])
    assert not ruff_problems(project)


@functools.cache
def ruff_binary(pinned: str) -> str:
    """The ruff program of ``pinned`` (uv installs it once): started directly, it answers in
    a tenth of the time uvx takes, which the property pays for every accepted example."""
    where = "from ruff.__main__ import find_ruff_bin; print(find_ruff_bin())"
    return run(["uvx", "--quiet", "--from", pinned, "python", "-c", where]).stdout.strip()


def ruff_problems(project: Path) -> str:
    """What the project's own ruff (the version its pre-commit pins) finds; '' if nothing."""
    pinned = re.search(r'"(ruff==[^"]+)"', (project / ".pre-commit-config.yaml").read_text())[1]
    ruff = [ruff_binary(pinned)]
    # The files pre-commit hands ruff (`types_or: [python, pyi, jupyter]`), not README.md.
    files = [str(p) for p in project.rglob("*") if p.suffix in (".py", ".pyi", ".ipynb")]
    found = ""
    for check in (["check", "--no-fix", "--quiet"], ["format", "--check", "--quiet"]):
        done = subprocess.run([*ruff, *check, *files], cwd=project, capture_output=True, text=True)
        found += done.stdout + done.stderr if done.returncode else ""
    return found


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(FREE_TEXT), value=answer_text())
@example(field="walltime", value="٠٠:١٠:٠٠")
@example(field="project", value="../escape")
@example(field="project_name", value="a \u2028b")  # line breaks to str.splitlines, not to JSON
@example(field="author", value="a\x85")
@example(field="project_name", value='"' + "漢" * 31)  # 64 columns as __init__.py writes it
@example(field="project", value="Caf\udce9")  # the folder's name is made before the hook runs
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
