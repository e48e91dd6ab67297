"""The template's toolbox, shared by its tests (tests/) and benchmarks (bench/).

One helper per job, one module per concern:

* ``bake``: a project from answers or a replay file, a refused bake, the hook's constants,
  the template as a git repository, a clone as Git for Windows makes it.
* ``processes``: run a command, an interpreter of a version, a free port and a wait for a
  server, an unprivileged user.
* ``venvs``: a baked project's uv venv from its lock; the versions an environment holds.
* ``files``: a baked project's docs, code blocks, files, data files, JSON with comments.
* ``podman``, ``containers/``: podman with the template's settings, the stand-in base
  images and the machine's set-up scripts (podman, Charliecloud, qemu).
* ``browser``: headless Chromium and a code-server login.
* ``workflows``: actionlint and zizmor on a GitHub workflow.
* ``miniquest``: a private Slurm (its scripts and configuration) and its client: the
  cluster, and ``Project``, a baked project whose jobscripts run there.
* ``imports``: the import graph of the template's own Python.

Nothing here imports ``tests`` or ``bench``; test modules never import each other.
"""
