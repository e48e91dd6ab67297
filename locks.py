"""Update the locks the template ships, one per TensorFlow of cookiecutter.json:

    python locks.py              # after a dependency of the generated pyproject.toml changed
    python locks.py --upgrade    # the newest versions of everything (a template release)

For each TensorFlow version: bake the template (default answers, that version, the
project name the shipped locks use), put the shipped lock into the baked project, run the
baked project's own `nox -s lock` (uv resolves for every platform and exports
requirements/*.txt for pip), and copy the result back into
{{cookiecutter.project}}/.template-locks/tensorflow-VERSION/. The post-gen hook moves the
chosen one into each new project, so baking needs no network. Needs PyPI; commit the
changed files. tests/test_lock.py fails when a shipped lock is stale or no longer resolves.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent
SHIPPED = TEMPLATE / "{{cookiecutter.project}}" / ".template-locks"
LOCKED_AS = "genai-project"  # hooks/post_gen_project.py writes the student's name over it


def versions() -> list[str]:
    return json.loads((TEMPLATE / "cookiecutter.json").read_text())["tensorflow_version"]


def bake_for(version: str, out_dir: Path) -> Path:
    """A project baked for ``version`` with the lock the template ships for it (if any)."""
    project = Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(out_dir),
            extra_context={"tensorflow_version": version, "project": LOCKED_AS},
        )
    )
    return project


def update(version: str, lock_args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shipped = SHIPPED / f"tensorflow-{version}"
        if not (shipped / "uv.lock").is_file():  # a new version: a placeholder to bake with
            (shipped / "requirements").mkdir(parents=True, exist_ok=True)
            (shipped / "uv.lock").write_text("")
        project = bake_for(version, Path(tmp))
        if not (project / "uv.lock").read_text():
            (project / "uv.lock").unlink()
        subprocess.run(["nox", "-s", "lock", "--", *lock_args], cwd=project, check=True)
        shutil.rmtree(shipped)
        (shipped / "requirements").mkdir(parents=True)
        shutil.copyfile(project / "uv.lock", shipped / "uv.lock")
        for pins in sorted((project / "requirements").glob("*.txt")):
            shutil.copyfile(pins, shipped / "requirements" / pins.name)
        print(f"updated {shipped.relative_to(TEMPLATE)}")


def main(args: list[str]) -> None:
    wanted = versions()
    for stale in sorted(SHIPPED.glob("tensorflow-*")):
        if stale.name.removeprefix("tensorflow-") not in wanted:
            shutil.rmtree(stale)  # a version no longer offered
    for version in wanted:
        update(version, args)


if __name__ == "__main__":
    main(sys.argv[1:])
