"""The project's checks, one command each:  nox -s tests lint  (or just: nox).
Everything CI runs, the slow tests too:  nox -s tests-all lint

nox makes a fresh virtual environment per session, so "works on my machine"
means "works from a clean install". With uv installed (pip install uv) the
environments are made in seconds; without it nox falls back to virtualenv.
"""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint"]
# uv, pinned: it writes uv.lock, and one version writes the same lock for everyone.
UV = "uv==0.13.9"


def install_locked(session: nox.Session, extras: str, project: bool = True) -> None:
    """Install exactly the lock's versions (requirements/EXTRAS.txt), then the project.

    Nothing is resolved here: every package and its hash come from the lock. A lock older
    than pyproject.toml stops the session with the command that updates it (nox -s lock).
    """
    session.run("python", "requirements/check.py", extras)
    session.install("--no-deps", "--require-hashes", "-r", f"requirements/{extras}.txt")
    if project:
        session.install("--no-deps", "-e", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """The everyday tests on CPU TensorFlow (no GPU needed); the slow ones are left out."""
    install_locked(session, "cpu-test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(name="tests-all")
def tests_all(session: nox.Session) -> None:
    """Every test, the slow ones too (several workers, the notebook): what CI runs."""
    install_locked(session, "cpu-test")
    session.run("python", "-m", "pytest", "--slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff, shellcheck, hadolint and file hygiene, through pre-commit."""
    install_locked(session, "dev", project=False)
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs)


@nox.session
def lock(session: nox.Session) -> None:
    """Update the lock after editing the dependencies: uv.lock and requirements/*.txt.

    Resolves for every platform of pyproject.toml's [tool.uv] at once. Keeps the locked
    versions that still fit; `nox -s lock -- --upgrade` takes the newest of everything
    (--upgrade-package NAME: one). Commit uv.lock and requirements/ afterwards.
    """
    session.install(UV)
    session.run("uv", "lock", *session.posargs)
    session.run("python", "requirements/check.py", "--export")


@nox.session(name="gpu-check")
def gpu_check(session: nox.Session) -> None:
    """Install the GPU build of TensorFlow and report what it sees."""
    install_locked(session, "gpu")
    session.run("python", "-m", "{{ cookiecutter.package }}", "gpu-check", *session.posargs)


# --- Template updates (docs/template-updates.md) ------------------------------------
# cruft re-renders the course template at the commit you were made from and at the
# newest one, with your answers from .cruft.json, and merges the difference into your
# files with git's three-way merge. These sessions wrap it so that an update is all or
# nothing: cruft alone reports a clash with your edits as success and can leave part of
# an update applied next to *.rej files.
# cruft and the cookiecutter the course template is tested with, pinned: same merge for all.
CRUFT = ["cruft==2.16.0", "cookiecutter==2.7.1"]
KEEP = "--keep-conflicts"


def _git(*args: str, check: bool = True) -> str:
    import subprocess

    done = subprocess.run(["git", *args], capture_output=True, text=True, check=check)
    return done.stdout


def _files(text: str) -> set[str]:
    return {line for line in text.splitlines() if line}


def _clashes(path: str) -> list[str]:
    """Relabel git's conflict markers in ``path``; return the clashing lines, readably."""
    from pathlib import Path

    labels = {"<<<<<<< ours\n": "<<<<<<< yours\n", ">>>>>>> theirs\n": ">>>>>>> template\n"}
    file = Path(path)
    lines = [labels.get(line, line) for line in file.read_text(encoding="utf-8").splitlines(True)]
    file.write_text("".join(lines), encoding="utf-8")
    shown, side = [], ""
    for number, line in enumerate(lines, start=1):
        if line.startswith("<<<<<<< "):
            shown.append(f"  {path}, line {number}:")
            side = "yours:   "
        elif line.startswith("=======") and side:
            side = "template:"
        elif line.startswith(">>>>>>> "):
            side = ""
        elif side:
            shown.append(f"    {side} {line.rstrip()}")
    return shown


def _package() -> str:
    """The package's name, as .cruft.json records it."""
    import json

    with open(".cruft.json", encoding="utf-8") as record:
        return json.load(record)["context"]["cookiecutter"]["package"]


def _move_package(old: str, new: str) -> list[str] | str:
    """After a change of `package`: cruft moved the template's modules to src/<new>/, and
    yours follow them (git mv). Returns what was moved, or why nothing can be."""
    import os

    mine = sorted(_files(_git("ls-files", "--", f"src/{old}")))
    targets = {path: f"src/{new}/" + path[len(f"src/{old}/") :] for path in mine}
    taken = [target for target in targets.values() if os.path.exists(target)]
    if taken:
        return f"cannot move your modules to src/{new}/: {', '.join(taken)} already exist"
    for path, target in targets.items():
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _git("mv", path, target)
    return mine


def _rename_imports(old: str, new: str) -> list[str]:
    """After a change of `package`: your .py files (git's list) import `new` where they
    imported `old` (`import old`, `import old.x as y`, `from old import`, `from old.x import`),
    and `old.fit.run()` becomes `new.fit.run()` where `import old` made the name. Strings,
    comments, relative imports and notebooks stay as they are (listed afterwards).
    Returns the files changed."""
    import ast
    import io

    changed = []
    for path in sorted(_files(_git("ls-files", "--", "*.py"))):
        try:
            with open(path, encoding="utf-8", newline="") as file:
                source = file.read()
            tree = ast.parse(source)
        except (OSError, SyntaxError, ValueError):  # not Python we can read: listed, untouched
            continue
        lines = io.StringIO(source, newline="").readlines()  # ast's lines, ends kept
        spots = set()  # (line, byte offset) of each `old` to replace
        binds = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == old:
                        spots.add((alias.lineno, alias.col_offset))
                        binds = binds or alias.asname is None
            elif isinstance(node, ast.ImportFrom) and node.level == 0:  # (not `from . import`)
                spots.update(_module_of_from(lines, node, old))
        if binds:  # `import old` bound the name `old`: `old.fit.run()` names the package too
            bases = (n.value for n in ast.walk(tree) if isinstance(n, ast.Attribute))
            uses = (n for n in bases if isinstance(n, ast.Name) and n.id == old)
            spots.update((name.lineno, name.col_offset) for name in uses)
        for number, offset in sorted(spots, reverse=True):  # right to left: offsets hold
            line = lines[number - 1].encode("utf-8")
            if line[offset : offset + len(old)] == old.encode():
                line = line[:offset] + new.encode() + line[offset + len(old) :]
                lines[number - 1] = line.decode("utf-8")
        if "".join(lines) != source:
            with open(path, "w", encoding="utf-8", newline="") as file:
                file.write("".join(lines))
            changed.append(path)
    return changed


def _module_of_from(lines: list[str], node, old: str) -> list[tuple[int, int]]:
    """[(line, byte offset)] where the module's name starts in `from old.x import y`."""
    import io
    import tokenize

    if (node.module or "").split(".")[0] != old:
        return []
    first = lines[node.lineno - 1]
    start = len(first.encode("utf-8")[: node.col_offset].decode("utf-8"))  # ast counts bytes
    text = first[start:] + "".join(lines[node.lineno : node.end_lineno])
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    row, column = next(t for t in tokens if t.type == tokenize.NAME and t.string != "from").start
    column += start if row == 1 else 0
    line = lines[node.lineno + row - 2]
    return [(node.lineno + row - 1, len(line[:column].encode("utf-8")))]


@nox.session(name="template-check")
def template_check(session: nox.Session) -> None:
    """Is there a newer template than the one in .cruft.json? (fails if so)"""
    session.install(*CRUFT)
    session.run("cruft", "check", *session.posargs)


@nox.session(name="template-update")
def template_update(session: nox.Session) -> None:
    """Merge the newest template into the project: all of it, or nothing on a clash.

    After --: --keep-conflicts (keep the update with the clashes marked in the files),
    or any `cruft update` option: --skip-update, --checkout TAG,
    --variables-to-update '{"partition": "short"}'.
    """
    import os
    import subprocess

    keep = KEEP in session.posargs
    options = [arg for arg in session.posargs if arg != KEEP]
    if not os.path.exists(".cruft.json"):
        session.error("no .cruft.json: link the project first (docs/template-updates.md)")
    try:
        dirty = _git("status", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        session.error("the project must be a git repository with git installed: git init")
    if dirty:
        session.error(
            f"commit or stash your changes first:\n{dirty}An update starts from a clean"
            " tree, so that it can be reviewed and undone as one piece"
        )
    session.install(*CRUFT)
    before = _files(_git("ls-files", "--others", "--exclude-standard"))
    # Every untracked file, git-ignored ones too: a *.rej of your own is not the update's.
    untracked = _files(_git("ls-files", "--others"))
    package = _package()
    cruft = os.path.join(session.bin, "cruft")
    done = subprocess.run(
        [cruft, "update", "--skip-apply-ask", *options], capture_output=True, text=True
    )
    output = done.stdout + done.stderr
    unmerged = sorted(_files(_git("diff", "--name-only", "--diff-filter=U")))
    new_files = _files(_git("ls-files", "--others")) - untracked
    rejects = sorted(p for p in new_files if p.endswith(".rej"))
    failed = done.returncode != 0 or "Failed to apply the update" in output or bool(rejects)

    def undo(why: str, then: str = "") -> None:
        _git("reset", "--quiet", "--hard", "HEAD")
        new = _files(_git("ls-files", "--others", "--exclude-standard")) - before
        for path in new | set(rejects):
            os.remove(path)
        session.error(f"{why}\nNothing was changed: the project is as it was before.{then}")

    if failed:
        print(output)
        undo("the template update could not be merged (cruft's messages are above)")
    if unmerged:
        print("The template changed lines that you changed too:")
        for path in unmerged:
            print("\n".join(_clashes(path)))
        if not keep:
            undo(
                "The update clashes with your edits (above).",
                "\nTo take the update and pick each line yourself:"
                f" nox -s template-update -- {KEEP}"
                "\nTo skip this template version: nox -s template-update -- --skip-update",
            )
        _git("add", ".cruft.json")
        session.error(
            "The update is applied and staged, except the lines above: edit each"
            " <<<<<<< yours ... >>>>>>> template block, then `git add` the file"
            " and commit. Undo the whole update: git reset --hard"
        )
    renamed = []
    if _package() != package:
        moved = _move_package(package, _package())
        if isinstance(moved, str):
            undo(moved)
        renamed = _rename_imports(package, _package())
    _git("add", "--all")
    changed = _git("status", "--short")
    if not changed:
        session.log(output.strip().splitlines()[-1] if output.strip() else "up to date")
        return
    print(changed)
    if _package() != package:
        mentions = _git("grep", "-n", "-w", "-I", package, "--", ".", ":!.cruft.json", check=False)
        print(
            f"The package is now {_package()} (was {package}): your modules moved with it"
            f" to src/{_package()}/. Reinstall it: pip install -e '.[cpu,dev]'"
            + (f"\nImports of {package} now name {_package()} in: " if renamed else "")
            + ", ".join(renamed)
            + (f"\nThese lines still name {package}; change them:\n{mentions}" if mentions else "")
        )
    session.log(
        "Template update staged: review it (git diff --cached), run nox -s tests,"
        " then git commit -m 'Update from the course template'"
    )
