"""Check every answer before cookiecutter writes anything.

All problems are reported together, each with the field, the bad value and an
example of a good one. A non-zero exit makes cookiecutter delete the half-made
project directory, so a bad answer leaves nothing behind.

The answers arrive as JSON text inside a raw string and are parsed as data:
an answer is never pasted into Python code, so quotes or code in a project
name are harmless.
"""

import json
import keyword
import os
import re
import shlex
import sys
import tempfile
import unicodedata
from email.headerregistry import Address
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

# The choice lists of cookiecutter.json (their one source), handed over as data by
# local_extensions.Choices. cookiecutter itself refuses a value outside a list at the prompt
# and as key=value / extra_context (cruft's too), but takes a --replay-file as it is, and
# the rerun below writes one that a student may edit: so the hook checks them again.
CHOICES = json.loads(r"""{{ choices | tojson }}""")
# Per partition of cookiecutter.json (tests/test_validation.py keeps the keys the same).
PARTITION_MAX_HOURS = {"short": 4, "normal": 48, "long": 7 * 24, "gengpu": 48}
# The largest node of each partition (MB), as Slurm reports it; `sinfo -o "%P %m"` on Quest.
PARTITION_MAX_MEM_MB = {"short": 243_000, "normal": 243_000, "long": 243_000, "gengpu": 490_000}
MAX_GPUS_PER_NODE = 4
MAX_GPUS_PER_USER = 8  # Quest's limit on GPUs in use by one user at a time
MAX_NODES = 4
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Python reads bytes that are not UTF-8 (from a terminal set to Latin-1, say) as lone
# surrogates: no file can hold them, so cookiecutter would stop half-way through the project.
SURROGATE = re.compile("[\ud800-\udfff]")
# Names from the dependency closure: hooks/reserved_names.json (hooks/reserved_names.py
# writes it from a real install; tests/test_validation.py checks it still matches),
# handed over as data by local_extensions.ReservedNames (this file runs from a temp copy).
RESERVED = json.loads(r"""{{ reserved_names | tojson }}""")
# The gpu extra's closure cannot be installed without a GPU-sized download: its extra names.
GPU_ONLY = {"modules": {"nvidia"}, "distributions": {"tensorflow"}}
# The standard library of the project's Python, not only of the one running cookiecutter
# (a 3.13 knows no `imghdr`, which a 3.11 project would import): the names that some
# offered Python (3.11-3.13; a 3.10 may run cookiecutter) has and another lacks.
# tests/test_validation.py checks this against every offered interpreter.
STDLIB_DIFFERENCES = {
    "_bootsubprocess", "_crypt", "_msi", "_sha256", "_sha512", "aifc", "asynchat", "asyncore",
    "audioop", "binhex", "cgi", "cgitb", "chunk", "crypt", "distutils", "imghdr", "imp", "lib2to3",
    "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "smtpd", "sndhdr", "spwd",
    "sunau", "telnetlib", "uu", "xdrlib",
    "_android_support", "_colorize", "_interpchannels", "_interpqueues", "_interpreters",
    "_ios_support", "_opcode_metadata", "_pydatetime", "_pylong", "_pyrepl", "_sha2",
    "_suggestions", "_sysconfig", "_tokenize", "_typing", "_wmi", "tomllib",
}  # fmt: skip
STDLIB = (
    set(sys.stdlib_module_names)
    | STDLIB_DIFFERENCES
    | {"sitecustomize", "usercustomize", "test", "tests"}
)
# Modules the project itself has at test time: its layout and pytest's (rootdir) imports.
PROJECT_MODULES = {"src", "conftest", "noxfile", "setup"}
SHADOWED = {
    name.lower()
    for name in STDLIB | PROJECT_MODULES | set(RESERVED["modules"]) | GPU_ONLY["modules"]
}
# The project's console script is named after `project`; in an active venv it comes
# first on PATH, so it must not take the name of a command the venv, the jobscripts
# or the README use.
# tests/test_validation.py checks that every command the generated Dockerfile, scripts and
# README run is here (or in RESERVED): coreutils, the tools of the image and of Quest.
SYSTEM_COMMANDS = {
    "bash", "sh", "dash", "zsh", "env", "git", "ssh", "scp", "sftp", "rsync", "make", "module",
    "ml", "conda", "mamba", "micromamba", "sbatch", "srun", "salloc", "squeue", "scancel",
    "sacct", "sinfo", "scontrol", "sstat", "seff", "jobstats", "nvidia-smi", "nvcc", "docker",
    "podman", "buildah", "apptainer", "singularity", "ch-run", "ch-convert", "ch-image",
    "code", "code-server", "start-code-server", "devcontainer", "node", "npm", "npx", "tini",
    "uv", "uvx", "pip", "pip3", "python",
    "python3", "tensorboard", "jupyter", "ipython", "ruff", "shellcheck", "hadolint",
    "nbstripout", "cruft", "cookiecutter", "pipx", "apt", "apt-get", "apt-cache", "dpkg",
    "update-ca-certificates", "curl", "wget", "tar", "gzip", "gunzip", "zip", "unzip", "xz",
    "which", "hostname", "iconv", "find", "grep", "egrep", "sed", "awk", "gawk", "mawk",
    "xargs", "less", "more", "vi", "vim", "nano", "man", "tmux", "screen", "ps", "pgrep",
    "pkill", "kill", "killall", "top", "htop", "free", "lsof", "ss", "ip", "ping", "mount",
    "umount", "id", "groups", "whoami", "su", "sudo", "useradd", "userdel", "usermod",
    "groupadd", "adduser", "addgroup", "passwd", "login", "getent", "locale", "ldd",
    "ldconfig", "ssh-keygen", "ssh-agent", "ssh-add", "flock", "getopt", "setsid", "script",
    "watch", "time", "nohup", "timeout", "stat", "file", "chromium",
    # coreutils
    "arch", "b2sum", "base32", "base64", "basename", "basenc", "cat", "chcon", "chgrp",
    "chmod", "chown", "chroot", "cksum", "comm", "cp", "csplit", "cut", "date", "dd", "df",
    "dir", "dircolors", "dirname", "du", "echo", "expand", "expr", "factor", "false", "fmt",
    "fold", "head", "hostid", "install", "join", "link", "ln", "logname", "ls", "md5sum",
    "mkdir", "mkfifo", "mknod", "mktemp", "mv", "nice", "nl", "nproc", "numfmt", "od",
    "paste", "pathchk", "pinky", "pr", "printenv", "printf", "ptx", "pwd", "readlink",
    "realpath", "rm", "rmdir", "runcon", "seq", "sha1sum", "sha224sum", "sha256sum",
    "sha384sum", "sha512sum", "shred", "shuf", "sleep", "sort", "split", "stdbuf", "stty",
    "sum", "sync", "tac", "tail", "tee", "test", "touch", "tr", "true", "truncate", "tsort",
    "tty", "uname", "unexpand", "uniq", "unlink", "users", "vdir", "wc", "who", "yes",
}  # fmt: skip
COMMANDS = set(RESERVED["commands"]) | SYSTEM_COMMANDS
DISTRIBUTIONS = set(RESERVED["distributions"]) | GPU_ONLY["distributions"]
# Both names become file and directory names (src/<package>/, <project>.egg-info,
# __editable___<package>_0_1_0_finder.py, image tags): 64 keeps every derived name far
# below the 255 bytes a file name may have on Linux and macOS.
MAX_NAME = 64
# The package's name is written into lines of Python (imports, `python -m <package> ...`) that
# the project's own lint keeps under 100 columns: 32 leaves every such line room.
MAX_PACKAGE = 32
# The project name opens src/<package>/__init__.py's docstring ("<name>: a Generative AI course
# project.", 100 columns at most): its width there, as ruff counts (a wide character counts 2,
# a quote or backslash is written twice).
MAX_PROJECT_NAME_WIDTH = 64


def problem(field, value, why, example):
    shown = repr(value) if len(value) <= 80 else repr(value[:60]) + f"... ({len(value)} characters)"
    return f"  - {field}: {shown} {why}; for example: {example}"


def check_text(field, value, example):
    if SURROGATE.search(value):
        why = (
            "is not valid UTF-8 text (a terminal set to Latin-1 or another encoding?); "
            "type it again in a UTF-8 terminal"
        )
        return [problem(field, value, why, example)]
    if not value.strip():
        return [problem(field, value, "is empty", example)]
    if CONTROL.search(value):
        return [problem(field, value, "contains a control character (newline, tab, ...)", example)]
    return []


def check_pattern(field, value, pattern, what, example):
    if re.fullmatch(pattern, value):
        return []
    return [problem(field, value, f"is not {what}", example)]


def check_choice(field, value, choices):
    if value in choices:
        return []
    return [problem(field, value, "is not one of " + ", ".join(choices), choices[0])]


def check_length(field, value, example, limit=MAX_NAME):
    if len(value) > limit:
        why = f"is {len(value)} characters long, more than {limit}"
        return [problem(field, value, why, example)]
    return []


def check_project_name(value):
    example = "GenAI Project"
    found = check_text("project_name", value, example)
    if found:
        return found
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    width = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in escaped)
    if width > MAX_PROJECT_NAME_WIDTH:
        why = (
            f"is {width} columns wide as Python writes it, more than {MAX_PROJECT_NAME_WIDTH} "
            "(the project's lint limits its lines); choose a shorter name"
        )
        return [problem("project_name", value, why, example)]
    return []


def check_email(value, author):
    example = "abc1234@u.northwestern.edu"
    found = check_pattern(
        "email",
        value,
        # Dots only between characters, never two in a row (setuptools refuses those);
        # domain labels neither begin nor end with '-'.
        r"[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*"
        r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}",
        "an e-mail address",
        example,
    )
    if found:
        return found
    try:  # what setuptools does with it (the `authors` of pyproject.toml)
        Address(display_name=author.strip(), addr_spec=value)
    except Exception as err:  # noqa: BLE001 (the email package raises several kinds)
        return [problem("email", value, f"is refused by Python's e-mail parser ({err})", example)]
    return []


def check_project(value):
    example = "genai-project"
    found = check_pattern(
        "project",
        value,
        r"[a-z][a-z0-9]*(-[a-z0-9]+)*",
        "a directory name of lowercase letters, digits and single '-'",
        example,
    ) or check_length("project", value, example)
    if found:
        return found
    if re.fullmatch(r"(python|pip|pydoc|idle)[0-9]*", value) or value in COMMANDS:
        why = "would replace a command of the same name in the project's environment"
        return [problem("project", value, why, example)]
    if value in DISTRIBUTIONS or value.startswith("nvidia-"):
        why = "is the name of a package the project installs, so pip cannot install both"
        return [problem("project", value, why, example)]
    return []


def check_package(value):
    example = "genai_project"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
        return [problem("package", value, "is not a lowercase Python identifier", example)]
    if len(value) > MAX_PACKAGE:
        return check_length("package", value, example, MAX_PACKAGE)
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return [problem("package", value, "is a Python keyword", example)]
    if value.startswith("__") and value.endswith("__"):
        return [problem("package", value, "is a special Python name (__...__)", example)]
    if value.startswith("test_"):
        return [problem("package", value, "looks like a test module (test_*) to pytest", example)]
    if value in SHADOWED:
        return [problem("package", value, "would hide a module of the same name", example)]
    return []


def check_int(field, value, low, high):
    if re.fullmatch(r"[0-9]+", value) and low <= int(value) <= high:
        return []
    return [problem(field, value, f"is not a whole number from {low} to {high}", str(max(low, 1)))]


def walltime_seconds(value):
    """Seconds in a Slurm time: M, M:S, H:M:S, D-H, D-H:M or D-H:M:S; None if malformed."""
    # [0-9], not \d: \d takes any Unicode digit ("٠٠:١٠:٠٠"), which Slurm cannot read.
    match = re.fullmatch(r"(?:([0-9]+)-)?([0-9]+)(?::([0-9]+))?(?::([0-9]+))?", value)
    if not match:
        return None
    days, first, second, third = match.groups()
    if days is not None:
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
        days = int(days)
    elif third is not None:
        days, hours, minutes, seconds = 0, int(first), int(second), int(third)
    else:
        days, hours, minutes, seconds = 0, 0, int(first), int(second or 0)
    if (days and hours > 23) or minutes > 59 or seconds > 59:
        return None
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def check_walltime(value, partition):
    seconds = walltime_seconds(value)
    if seconds is None or seconds == 0:
        return [
            problem("walltime", value, "is not a Slurm time (HH:MM:SS or D-HH:MM:SS)", "00:10:00")
        ]
    limit = PARTITION_MAX_HOURS.get(partition)
    if limit is not None and seconds > limit * 3600:
        why = f"exceeds the {partition} partition's maximum of {limit} hours"
        return [problem("walltime", value, why, "04:00:00" if partition == "short" else "12:00:00")]
    return []


def check_mem(value, partition):
    found = check_pattern("mem", value, r"[1-9][0-9]*[MG]", "a memory size in M or G", "20G")
    if found:
        return found
    megabytes = int(value[:-1]) * (1024 if value.endswith("G") else 1)  # as Slurm counts
    limit = PARTITION_MAX_MEM_MB.get(partition)
    if limit is not None and megabytes > limit:
        why = f"is more than a {partition} node has ({limit // 1024}G = {limit}M)"
        return [problem("mem", value, why, "20G")]
    return []


def check_gpus(answers):
    partition, gpu = answers["partition"], answers["gpu"]
    found = []
    if partition == "gengpu" and gpu == "none":
        found.append(
            problem("gpu", gpu, "is not allowed on gengpu, which is only for GPU jobs", "a100")
        )
    if partition in CHOICES["partition"] and partition != "gengpu" and gpu != "none":
        why = f"needs the gengpu partition; {partition} nodes have no GPUs"
        found.append(problem("gpu", gpu, why, "none"))
    low = 0 if gpu == "none" else 1
    found += check_int("gpus_per_node", answers["gpus_per_node"], low, MAX_GPUS_PER_NODE)
    found += check_int("nodes", answers["nodes"], 1, MAX_NODES)
    if not found and gpu != "none":
        total = int(answers["gpus_per_node"]) * int(answers["nodes"])
        if total > MAX_GPUS_PER_USER:
            nodes = answers["nodes"]
            why = f"x {nodes} nodes = {total} GPUs, over Quest's limit of {MAX_GPUS_PER_USER}"
            found.append(problem("gpus_per_node", answers["gpus_per_node"], why, "2"))
    return found


def validate(a):
    partition = a["partition"]
    found = []
    found += check_project_name(a["project_name"])
    found += check_project(a["project"])
    found += check_package(a["package"])
    found += check_text("author", a["author"], "Ada Lovelace")
    found += check_pattern(
        "netid", a["netid"], r"[a-z]{3}[0-9]{3,4}", "a Northwestern NetID", "abc1234"
    )
    found += check_email(a["email"], a["author"])
    found += check_pattern(
        "quest_account", a["quest_account"], r"[pbew][0-9]{4,5}", "a Quest allocation", "p32562"
    )
    found += check_choice("partition", partition, CHOICES["partition"])
    found += check_choice("gpu", a["gpu"], CHOICES["gpu"])
    found += check_gpus(a)
    found += check_walltime(a["walltime"], partition)
    found += check_mem(a["mem"], partition)
    found += check_choice("python_version", a["python_version"], CHOICES["python_version"])
    # A choice: the versions the template ships a lock for (locks.py); each lock holds
    # wheels for every Python choice (tests/test_lock.py).
    found += check_choice(
        "tensorflow_version", a["tensorflow_version"], CHOICES["tensorflow_version"]
    )
    return found


# Answers whose default is made from another answer: (field, source, default from the source).
DERIVED = (
    ("project", "project_name", None),
    ("package", "project", lambda project: project.replace("-", "_")),
    ("email", "netid", lambda netid: f"{netid}@u.northwestern.edu"),
)


def answers_to_keep(answers, bad):
    """The answers worth keeping for a rerun: all but the bad ones, and but those that
    were only derived from a bad one (so they are derived again from the new answer)."""
    dropped = set(bad)
    for field, source, derive in DERIVED:
        if source in dropped and (derive is None or answers[field] == derive(answers[source])):
            dropped.add(field)
    # __prompts__ too: cookiecutter then shows the questions' text again.
    return {k: v for k, v in ANSWERS.items() if k not in dropped and k != "__prompts__"}


def save_for_rerun(answers, found):
    """Save the good answers as a cookiecutter replay file; return the command that
    reuses them (cookiecutter then asks only for the answers left out)."""
    bad = [re.match(r"  - (\w+):", line)[1] for line in found]
    keep = answers_to_keep(answers, bad)
    name = re.sub(r"[^\w.-]", "_", Path(ANSWERS.get("_repo_dir") or "template").name)
    for folder in (Path.home() / ".cookiecutter_replay", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = folder / f"{name}-rerun.json"
            saved.write_text(json.dumps({"cookiecutter": keep}, indent=2), encoding="utf-8")
            break
        except OSError:
            continue
    else:
        return None
    command = ["cookiecutter", "--replay-file", str(saved), str(ANSWERS.get("_template", "."))]
    output_dir = ANSWERS.get("_output_dir")
    here = os.environ.get("PWD")  # the shell's folder (the hook itself runs elsewhere)
    if output_dir and not (here and Path(here).resolve() == Path(output_dir).resolve()):
        command += ["--output-dir", output_dir]
    return " ".join(shlex.quote(part) for part in command)


def main():
    answers = {key: str(value) for key, value in ANSWERS.items() if not key.startswith("_")}
    found = validate(answers)
    if found:
        print(
            f"\nerror: {len(found)} answer(s) need fixing; nothing was generated.", file=sys.stderr
        )
        print("\n".join(found), file=sys.stderr)
        rerun = save_for_rerun(answers, found)
        if rerun:
            print(
                "Your other answers are saved. To answer only the questions above again, run:\n"
                f"  {rerun}\n"
                "(with `uvx ` or `pipx run ` in front if that is how you started cookiecutter).\n"
                "cookiecutter now adds its own error lines below; the lines above are the ones"
                " that matter.\n",
                file=sys.stderr,
            )
        else:
            print("Run cookiecutter again with corrected answers.\n", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
