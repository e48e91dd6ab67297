"""Merge the newest course template into this project: all of it, or nothing on a clash.

Run by `nox -s template-update` (the session installs cruft, then runs this file); see
docs/template-updates.md. cruft re-renders the course template at the commit you were made
from and at the newest one, with your answers from .cruft.json, and merges the difference
into your files with git's three-way merge. This script wraps it so that an update is all
or nothing: cruft alone reports a clash with your edits as success and can leave part of
an update applied next to *.rej files.

    python tools/template_update.py [--keep-conflicts] [any `cruft update` option]
"""

import ast
import io
import json
import os
import subprocess
import sys
import tokenize
from pathlib import Path

KEEP = "--keep-conflicts"


def fail(message: str) -> None:
    """Stop with ``message`` (exit code 1)."""
    sys.exit(f"template-update: {message}")


def git(*args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=check)
    return done.stdout


def files(text: str) -> set[str]:
    return {line for line in text.splitlines() if line}


def clashes(path: str) -> list[str]:
    """Relabel git's conflict markers in ``path``; return the clashing lines, readably."""
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


def package() -> str:
    """The package's name, as .cruft.json records it."""
    with open(".cruft.json", encoding="utf-8") as record:
        return json.load(record)["context"]["cookiecutter"]["package"]


def move_package(old: str, new: str) -> list[str] | str:
    """After a change of `package`: cruft moved the template's modules to src/<new>/, and
    yours follow them (git mv). Returns what was moved, or why nothing can be."""
    mine = sorted(files(git("ls-files", "--", f"src/{old}")))
    targets = {path: f"src/{new}/" + path[len(f"src/{old}/") :] for path in mine}
    taken = [target for target in targets.values() if os.path.exists(target)]
    if taken:
        return f"cannot move your modules to src/{new}/: {', '.join(taken)} already exist"
    for path, target in targets.items():
        os.makedirs(os.path.dirname(target), exist_ok=True)
        git("mv", path, target)
    return mine


def rename_imports(old: str, new: str) -> list[str]:
    """After a change of `package`: your .py files (git's list) import `new` where they
    imported `old` (`import old`, `import old.x as y`, `from old import`, `from old.x import`),
    and `old.fit.run()` becomes `new.fit.run()` where `import old` made the name. Strings,
    comments, relative imports and notebooks stay as they are (listed afterwards).
    Returns the files changed."""
    changed = []
    for path in sorted(files(git("ls-files", "--", "*.py"))):
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
                spots.update(module_of_from(lines, node, old))
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


def module_of_from(lines: list[str], node, old: str) -> list[tuple[int, int]]:
    """[(line, byte offset)] where the module's name starts in `from old.x import y`."""
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


def check_ready() -> None:
    """A linked project, in a git repository with nothing uncommitted."""
    if not os.path.exists(".cruft.json"):
        fail("no .cruft.json: link the project first (docs/template-updates.md)")
    try:
        dirty = git("status", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        fail("the project must be a git repository with git installed: git init")
    if dirty:
        fail(
            f"commit or stash your changes first:\n{dirty}An update starts from a clean"
            " tree, so that it can be reviewed and undone as one piece"
        )


class Update:
    """One `cruft update`, and what it left: its output, the clashes, new *.rej files."""

    def __init__(self, options: list[str]) -> None:
        self.before = files(git("ls-files", "--others", "--exclude-standard"))
        # Every untracked file, git-ignored ones too: a *.rej of your own is not the update's.
        untracked = files(git("ls-files", "--others"))
        # cruft comes with the Python that runs this file (the nox session's).
        cruft = os.path.join(os.path.dirname(sys.executable), "cruft")
        done = subprocess.run(
            [cruft, "update", "--skip-apply-ask", *options], capture_output=True, text=True
        )
        self.output = done.stdout + done.stderr
        self.unmerged = sorted(files(git("diff", "--name-only", "--diff-filter=U")))
        new_files = files(git("ls-files", "--others")) - untracked
        self.rejects = sorted(p for p in new_files if p.endswith(".rej"))
        self.failed = (
            done.returncode != 0
            or "Failed to apply the update" in self.output
            or bool(self.rejects)
        )

    def undo(self, why: str, then: str = "") -> None:
        """Put the project back as it was, and stop saying why."""
        git("reset", "--quiet", "--hard", "HEAD")
        new = files(git("ls-files", "--others", "--exclude-standard")) - self.before
        for path in new | set(self.rejects):
            os.remove(path)
        fail(f"{why}\nNothing was changed: the project is as it was before.{then}")


def report_clashes(update: Update, keep: bool) -> None:
    """Show the clashing lines; undo the update, or (``keep``) stage it with them marked."""
    print("The template changed lines that you changed too:")
    for path in update.unmerged:
        print("\n".join(clashes(path)))
    if not keep:
        update.undo(
            "The update clashes with your edits (above).",
            "\nTo take the update and pick each line yourself:"
            f" nox -s template-update -- {KEEP}"
            "\nTo skip this template version: nox -s template-update -- --skip-update",
        )
    git("add", ".cruft.json")
    fail(
        "The update is applied and staged, except the lines above: edit each"
        " <<<<<<< yours ... >>>>>>> template block, then `git add` the file"
        " and commit. Undo the whole update: git reset --hard"
    )


def main(args: list[str]) -> None:
    keep = KEEP in args
    check_ready()
    old = package()
    update = Update([arg for arg in args if arg != KEEP])
    if update.failed:
        print(update.output)
        update.undo("the template update could not be merged (cruft's messages are above)")
    if update.unmerged:
        report_clashes(update, keep)
    renamed = []
    if package() != old:
        moved = move_package(old, package())
        if isinstance(moved, str):
            update.undo(moved)
        renamed = rename_imports(old, package())
    git("add", "--all")
    changed = git("status", "--short")
    if not changed:
        output = update.output.strip()
        print(output.splitlines()[-1] if output else "up to date")
        return
    print(changed)
    if package() != old:
        mentions = git("grep", "-n", "-w", "-I", old, "--", ".", ":!.cruft.json", check=False)
        print(
            f"The package is now {package()} (was {old}): your modules moved with it"
            f" to src/{package()}/. Reinstall it: pip install -e '.[cpu,dev]'"
            + (f"\nImports of {old} now name {package()} in: " if renamed else "")
            + ", ".join(renamed)
            + (f"\nThese lines still name {old}; change them:\n{mentions}" if mentions else "")
        )
    print(
        "Template update staged: review it (git diff --cached), run nox -s tests,"
        " then git commit -m 'Update from the course template'"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
