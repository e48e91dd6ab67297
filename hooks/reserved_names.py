"""Names a generated project must not take, read from a real installed project.

    python hooks/reserved_names.py PROJECT/.venv/bin/python > hooks/reserved_names.json

PROJECT is a baked project installed with every extra that installs here
(``pip install -e ".[cpu,dev]"``). The interpreter lists, from its installed
distributions (the project's dependency closure, the project itself left out):

* ``distributions``: their names; a project of the same name cannot be installed
  beside them (``project=pytest``);
* ``modules``: the top-level modules they install; a package of the same name
  hides one of them (``package=numpy``, ``package=absl``);
* ``commands``: the files of the venv's ``bin/`` (interpreters, console scripts);
  the project's own console script, named after ``project``, would replace one
  (``project=python3`` kills the venv).

The pre-generation hook reads the JSON; tests/test_validation.py checks that it
still holds every name of today's dependency closure. This file is no hook:
cookiecutter runs only files named after a hook.
"""

import json
import subprocess
import sys

LISTER = r"""
import importlib.metadata as md, json, os, re, sys, sysconfig

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

own = norm(sys.argv[1])
distributions, modules = set(), set()
for dist in md.distributions():
    name = norm(dist.metadata["Name"])
    if name == own:
        continue
    distributions.add(name)
    for line in (dist.read_text("top_level.txt") or "").split():
        modules.add(line.split("/")[0])
    for file in dist.files or ():
        parts = file.parts
        if parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info", ".data")):
            continue
        if len(parts) > 1:
            modules.add(parts[0])
        elif parts[0].endswith((".py", ".so", ".pyd")):
            modules.add(parts[0].split(".")[0])
modules.discard("__pycache__")
commands = sorted(os.listdir(sysconfig.get_path("scripts")))
print(json.dumps({
    "distributions": sorted(distributions),
    "modules": sorted(m for m in modules if m.isidentifier()),
    "commands": commands,
}))
"""


def reserved_names(python: str, project: str = "genai-project") -> dict:
    """The three lists for the venv of ``python``, ``project`` itself left out."""
    found = subprocess.run(
        [python, "-c", LISTER, project], check=True, capture_output=True, text=True
    )
    names = json.loads(found.stdout)
    names["commands"] = [c for c in names["commands"] if c != project]
    return names


if __name__ == "__main__":
    print(json.dumps(reserved_names(*sys.argv[1:]), indent=1))
