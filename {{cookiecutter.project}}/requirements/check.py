"""Is the lock in step with pyproject.toml?  python requirements/check.py cpu-dev

uv.lock pins every package for every platform; requirements/*.txt are the same pins
exported for pip, one file per set of extras, each with a hash per file to download.
`nox -s lock` writes them all and stamps each .txt with a fingerprint of the
dependency tables of pyproject.toml and of uv.lock. Every install (README, Dockerfile,
slurm/setup_env.sh, noxfile.py, CI) runs this check first: a stamp that does not match
means someone edited the dependencies without updating the lock, and nothing is
installed until `nox -s lock` is run. (uv can check uv.lock itself, but pip cannot, and
the routes without uv need the same answer: so the stamp, in plain Python.)

    python requirements/check.py SET     exit 0 if requirements/SET.txt is up to date
    python requirements/check.py --export   (nox -s lock) write every SET.txt with uv
"""

import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPDATE = "nox -s lock"
# Each file of requirements/ and the extras it holds. `dev` (tools, no TensorFlow) is for
# `nox -s lint`; the others are TensorFlow's build plus nothing, the tests, or all tools.
SETS = {
    "cpu": ["cpu"],
    "gpu": ["gpu"],
    "cpu-test": ["cpu", "test"],
    "gpu-test": ["gpu", "test"],
    "cpu-dev": ["cpu", "dev"],
    "gpu-dev": ["gpu", "dev"],
    "dev": ["dev"],
}
STAMP = "# lock-stamp: "


def normalize(name: str) -> str:
    """A distribution's name as the index compares it (PEP 503): my_Pkg -> my-pkg."""
    return re.sub(r"[-_.]+", "-", name).lower()


def stamp(root: Path = ROOT) -> str:
    """The fingerprint of what the lock is made from: the dependency tables and uv.lock.

    The project's own name is left out (it is written in both files), so that the
    course template can ship one lock for every project name.
    """
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    name = normalize(project["name"])

    def unnamed(requirement: str) -> str:
        found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if found and normalize(found[1]) == name:
            return "<project>" + requirement[found.end() :]
        return requirement

    tables = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": {
            extra: [unnamed(r) for r in requirements]
            for extra, requirements in project.get("optional-dependencies", {}).items()
        },
        "tool.uv": pyproject.get("tool", {}).get("uv", {}),
    }
    lock = (root / "uv.lock").read_text(encoding="utf-8")
    lock = lock.replace(f'"{name}"', '"<project>"')
    lock = lock.replace(f"extra-{len(name)}-{name}-", "extra-<project>-")
    digest = hashlib.sha256(json.dumps(tables, sort_keys=True).encode())
    digest.update(lock.encode())
    return digest.hexdigest()


def export(root: Path = ROOT) -> None:
    """Write requirements/SET.txt for every SET from uv.lock (uv on PATH), stamped."""
    fingerprint = stamp(root)
    for name, extras in SETS.items():
        command = ["uv", "export", "--frozen", "--format", "requirements-txt", "--no-header"]
        command += ["--no-annotate", "--no-emit-project", *(f"--extra={e}" for e in extras)]
        pins = subprocess.run(command, cwd=root, check=True, capture_output=True, text=True)
        header = (
            f"# The lock for pip, extras [{','.join(extras)}]: made from uv.lock by `{UPDATE}`;"
            " do not edit.\n"
            f"#   pip install --no-deps --require-hashes -r requirements/{name}.txt\n"
            f"{STAMP}{fingerprint}\n"
        )
        (root / "requirements" / f"{name}.txt").write_text(header + pins.stdout, encoding="utf-8")


def problem(name: str, root: Path = ROOT) -> str | None:
    """Why requirements/NAME.txt cannot be installed as it is, or None if it can."""
    if name not in SETS:
        return f"no set of extras '{name}'; choose one of: {', '.join(SETS)}"
    path = root / "requirements" / f"{name}.txt"
    if not path.is_file() or not (root / "uv.lock").is_file():
        return f"{path.relative_to(root)} or uv.lock is missing. Make them with:  {UPDATE}"
    stamped = re.search(f"^{STAMP}(\\w+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    if stamped is None or stamped[1] != stamp(root):
        return (
            "the lock (uv.lock, requirements/) is out of date: pyproject.toml's dependencies"
            " or uv.lock changed since it was made. Update it with ONE command, then"
            f" commit the changes:  {UPDATE}"
        )
    return None


def main(args: list[str]) -> int:
    if args == ["--export"]:
        export()
        return 0
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    why = problem(args[0])
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
