"""The container route: the project's image runs the Quest jobscripts (`nox -s container_route`).

Apptainer cannot be installed here, so the image is run by the nearest real HPC runtime in
Debian, Charliecloud: the `base` image (CPU variant) is built with podman, converted by
Charliecloud's own `ch-convert` (podman export -> image directory), and mini-Quest runs the
GPU check, a training job that is preempted and requeued, and a sweep task inside it with
`ch-run`, submitted by an unprivileged user. The image also runs read-only as a foreign UID
under podman. The Apptainer command lines are checked against Apptainer's documented flags,
and the publishing workflow against actionlint and zizmor.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from harness.bake import DEFAULTS
from harness.miniquest import LONG_FIT, Project, assert_resumed
from harness.podman import build, ch_convert, podman
from harness.processes import run
from harness.workflows import workflow_problems

PYTHON_VERSION = DEFAULTS["python_version"][0]
IMAGE = "localhost/hpc-test:route"  # tags of this module only: route, route-test
# The unprivileged user who submits the jobs (conftest.py: `student`, `project`).
STUDENT = "hpcstudent"

# Apptainer's documented options of the subcommands the project uses, from
# https://apptainer.org/docs/user/main/cli/apptainer_exec.html and
# https://apptainer.org/docs/user/main/cli/apptainer_build.html (long and short names).
APPTAINER_FLAGS = {
    "exec": {
        "--add-caps", "--allow-setuid", "--app", "--apply-cgroups", "--authfile",
        "-B", "--bind", "--blkio-weight", "--blkio-weight-device", "--boot",
        "-e", "--cleanenv", "--compat", "-c", "--contain", "-C", "--containall",
        "--cpu-shares", "--cpus", "--cpuset-cpus", "--cpuset-mems", "--disable-cache",
        "--dns", "--docker-host", "--docker-login", "--drop-caps", "--env", "--env-file",
        "-f", "--fakeroot", "--fusemount", "-H", "--home", "--hostname", "-i", "--ipc",
        "--keep-privs", "--memory", "--memory-reservation", "--memory-swap", "--mount",
        "-n", "--net", "--network", "--network-args", "--no-eval", "--no-home",
        "--no-https", "--no-init", "--no-mount", "--no-privs", "--no-umask", "--nv",
        "--nvccli", "--oom-kill-disable", "-o", "--overlay", "-p", "--pid",
        "--pids-limit", "--pwd", "--rocm", "-S", "--scratch", "--security",
        "--sharens", "--unsquash", "-u", "--userns", "--uts", "--vm", "--vm-cpu",
        "--vm-err", "--vm-ip", "--vm-ram", "-W", "--workdir", "-w", "--writable",
        "--writable-tmpfs",
    },
    "build": {
        "--arch", "--authfile", "--bind", "--build-arg", "--build-arg-file", "--disable-cache",
        "--docker-host", "--docker-login", "--encrypt", "-f", "--fakeroot", "--fix-perms",
        "-F", "--force", "--json", "-k", "--library", "--mount", "--no-cleanup",
        "--no-https", "--no-setgroups", "--notest", "--nv", "--nvccli", "--passphrase",
        "--pem-path", "--rocm", "-s", "--sandbox", "--section", "--update", "--userns",
        "--writable-tmpfs",
    },
}  # fmt: skip


def undocumented(command: list[str]) -> list[str]:
    """The options in `apptainer SUBCOMMAND ...` that Apptainer does not document."""
    subcommand, *rest = command[1:]
    documented = APPTAINER_FLAGS[subcommand]
    return [arg.split("=")[0] for arg in rest if arg.startswith("-")
            and arg.split("=")[0] not in documented]  # fmt: skip


# --------------------------------------------------------------------------
# The project (the default answers, gengpu and a100: the GPU check must fail cleanly
# without a GPU; conftest.py), its image, the image converted by Charliecloud.


@pytest.fixture(scope="module")
def image(project: Path) -> str:
    """The project's `base` image, CPU variant (the GPU variant differs only in TensorFlow)."""
    build(project, "base", IMAGE, python=PYTHON_VERSION)
    return IMAGE


@pytest.fixture(scope="module")
def converted(image: str, workdir: Path) -> Path:
    """The image as Charliecloud runs it: ch-convert exports it into a directory image."""
    return ch_convert(image, workdir / "image")


@pytest.fixture(scope="module")
def in_image(project: Path, converted: Path) -> Project:
    """The project as its jobs run: in the converted image (ch-run), submitted by the student."""
    export = {"PROJECT_CONTAINER": str(converted), "PROJECT_CONTAINER_RUNTIME": "ch-run"}
    return Project(project, export, user=STUDENT)


@pytest.fixture(scope="module")
def jobs(cluster, in_image: Project, student) -> dict[str, int]:
    """Submit the jobs as the unprivileged student, all at once; {name: job id}."""
    return {
        "gpu-check": in_image.submit(cluster, "gpu_check"),
        "uninterrupted": in_image.submit(cluster, "train", *LONG_FIT),
        "interrupted": in_image.submit(cluster, "train", *LONG_FIT),
        "sweep": in_image.submit(cluster, "sweep", options=["--array=3"]),
    }


# --------------------------------------------------------------------------
# The jobscripts inside the container, on mini-Quest, as an unprivileged user.


def test_gpu_check_job_runs_in_the_container(cluster, in_image, jobs):
    job = jobs["gpu-check"]
    cluster.wait(job)
    record, log = cluster.final(job), in_image.log(job)
    assert record["UserId"].startswith(f"{STUDENT}("), record  # not root
    assert re.search(r"^container:  \S*/ch-run --set-env", log, flags=re.MULTILINE), log
    # The image's Python (its venv, found without activation), the project's code.
    assert "Python: 3.12" in log and "(/home/student/venv/bin/python)" in log
    assert re.search(r"CUDA_VISIBLE_DEVICES: \d", log), log  # Slurm's GPUs reach the container
    assert "error: --require-gpu: TensorFlow sees no GPU" in log
    assert (record["JobState"], record["ExitCode"]) == ("FAILED", "3:0"), record
    assert "Matplotlib created a temporary cache directory" not in log


def test_preempted_training_in_the_container_resumes_identically(cluster, in_image, jobs):
    job, reference = jobs["interrupted"], jobs["uninterrupted"]
    in_image.warn_after_checkpoint(cluster, job)
    resumed, _, log = assert_resumed(cluster, in_image, job, reference, same=["params"])
    assert len(re.findall(r"^container:  \S*/ch-run ", log, flags=re.MULTILINE)) == 2  # both runs
    assert "SIGUSR1: interrupted at step" in log  # the signal reached python in the image
    assert resumed["steps"] == 3000


def test_sweep_task_runs_in_the_container(cluster, project, in_image, jobs, student):
    job = jobs["sweep"]
    cluster.wait(job)
    [record] = cluster.records(job)
    assert record["JobState"] == "COMPLETED", record
    log = in_image.log(job, 3)
    assert re.search(r"^container:  \S*/ch-run ", log, flags=re.MULTILINE), log
    assert "task 3: fit --model gmm --components 2" in log
    result = project / "results" / f"sweep-{job}" / "task-3.json"
    assert json.loads(result.read_text())["model"] == "gmm"
    assert result.stat().st_uid == student.pw_uid  # written as the student, into the project


def test_container_route_fails_clearly_without_a_runtime(project, tmp_path):
    """Outside Slurm too: no apptainer on PATH, or no image, is a clear error before any work."""
    path = "/usr/bin:/bin"
    assert not any(shutil.which(r, path=path) for r in ("apptainer", "singularity"))
    image = tmp_path / "project.sif"
    image.write_bytes(b"")
    done = run(["bash", "slurm/gpu_check.sh"], cwd=project, check=False,
               env={"PATH": path, "PROJECT_CONTAINER": str(image)})  # fmt: skip
    assert done.returncode == 1
    assert "neither apptainer nor singularity found" in done.stderr
    assert "module load apptainer" in done.stderr
    missing = tmp_path / "missing.sif"
    done = run(["bash", "slurm/train.sh"], cwd=project, check=False,
               env={"PROJECT_CONTAINER": str(missing)})  # fmt: skip
    assert done.returncode == 1 and f"PROJECT_CONTAINER={missing}: no such image" in done.stderr
    assert "bash slurm/setup_container.sh" in done.stderr


# --------------------------------------------------------------------------
# Read-only, as a foreign UID, with a separate $HOME (how Apptainer runs the image).


@pytest.fixture(scope="module")
def test_image(image: str, workdir: Path, project: Path) -> str:
    """The base image plus the project's test extra (pytest, scikit-learn), to run its tests
    (the image holds no lock: the project's is mounted, as the Dockerfile's installs do)."""
    containerfile = workdir / "Containerfile.test"
    lock = project.relative_to(workdir) / "requirements" / "cpu-test.txt"
    containerfile.write_text(
        f"FROM {image}\nRUN --mount=type=bind,source={lock},target=/tmp/cpu-test.txt"
        " uv pip install --no-cache --no-deps --require-hashes -r /tmp/cpu-test.txt\n"
    )
    podman("build", "-f", containerfile, "-t", f"{image}-test", workdir)
    return f"{image}-test"


@pytest.mark.parametrize("home", ["mounted", "unwritable"])
def test_image_runs_read_only_as_a_foreign_uid(test_image, project, tmp_path, home):
    work = tmp_path / "work"
    for folder in ("tests", "data", "notebooks"):  # what the project's tests read
        shutil.copytree(project / folder, work / folder)
    shutil.copy(project / "pyproject.toml", work)
    host_home = tmp_path / "home"
    host_home.mkdir()
    run(["chown", "-R", "4242:4242", work, host_home])
    options = ["--rm", "--read-only", "--user", "4242:4242", "-v", f"{work}:/work", "-w", "/work"]
    if home == "mounted":
        options += ["-v", f"{host_home}:/home/someone", "-e", "HOME=/home/someone"]
    else:
        options += ["-e", "HOME=/nonexistent"]
    script = (
        "set -eo pipefail; python -m $PKG fit --model gaussian --steps 50 --no-progress "
        "--plot fit.png --json > fit.json; "
        "python -c 'import matplotlib; print(\"mpl:\", matplotlib.get_cachedir())'; "
    )
    if home == "mounted":  # the project's tests too (once: they take a minute)
        script += "python -m pytest --slow -q -p no:cacheprovider tests 2>&1 | tail -n 3"
    package = re.search(r'^PACKAGE="(\w+)"', (project / "slurm" / "common.sh").read_text(),
                        flags=re.MULTILINE)[1]  # fmt: skip
    done = podman("run", *options, "-e", f"PKG={package}", test_image, "bash", "-c", script)
    if home == "mounted":
        assert re.search(r"\d+ passed", done.stdout), done.stdout
    assert json.loads((work / "fit.json").read_text())["model"] == "gaussian"
    assert (work / "fit.png").read_bytes().startswith(b"\x89PNG")
    assert "Matplotlib created a temporary cache directory" not in done.stderr
    cachedir = re.search(r"^mpl: (\S+)$", done.stdout, flags=re.MULTILINE)[1]
    if home == "mounted":  # caches live in the mounted home, as with Apptainer
        assert cachedir.startswith("/home/someone/"), cachedir
        assert list(host_home.rglob("fontlist-*.json"))
    else:  # no writable home: container_caches.py moved them to the temp folder
        assert cachedir == "/tmp/container-caches-4242/mplconfigdir", cachedir


# --------------------------------------------------------------------------
# What cannot run here: Apptainer's command lines (documented flags only), setup_container.sh.


def apptainer_command(project: Path) -> list[str]:
    """The command line the jobscripts run with PROJECT_CONTAINER set and apptainer chosen."""
    script = ('source slurm/common.sh; PROJECT_CONTAINER=/p/x.sif; '
              'container_python apptainer; printf "%s\\n" "${PYTHON_CMD[@]}"')  # fmt: skip
    return run(["bash", "-c", script], cwd=project).stdout.splitlines()


def test_jobscripts_use_only_documented_apptainer_flags(project):
    command = apptainer_command(project)
    assert command[:2] == ["apptainer", "exec"] and "/p/x.sif" in command
    flags = command[: command.index("/p/x.sif")]
    assert {"--nv", "--bind", "--pwd"} <= set(flags)
    assert undocumented(flags) == []
    setup = (project / "slurm" / "setup_container.sh").read_text()
    for line in re.findall(r'"\$runtime" (build [^\n]*|exec [^\n]*)', setup):
        assert undocumented(["apptainer", *line.split()]) == [], line


@pytest.mark.parametrize("flag", ["--gpus", "--volume", "--nvidia"])
def test_the_flag_check_rejects_docker_style_flags(flag):
    assert undocumented(["apptainer", "exec", "--nv", flag, "/x.sif"]) == [flag]


SETUP_ERRORS = [
    ({}, "say which image: IMAGE=docker://ghcr.io/"),
    ({"IMAGE": "ghcr.io/u/p:1"}, "IMAGE must start with docker://"),
    ({"IMAGE": "docker://a", "IMAGE_ARCHIVE": "b.tar"}, "not both"),
    ({"IMAGE_ARCHIVE": "/nonexistent.tar"}, "IMAGE_ARCHIVE=/nonexistent.tar: no such file"),
    ({"IMAGE": "docker://a", "PROJECT_CONTAINER": "x.sif"}, "absolute path ending in .sif"),
    ({"IMAGE": "docker://a"}, "neither apptainer nor singularity found"),
]


@pytest.mark.parametrize(("settings", "message"), SETUP_ERRORS)
def test_setup_container_refuses_cleanly(project, tmp_path, settings, message):
    target = tmp_path / "containers" / "project.sif"
    env = {"PATH": "/usr/bin:/bin", "PROJECT_CONTAINER": str(target), "IMAGE": "",
           "IMAGE_ARCHIVE": "", "PROJECT_CONTAINER_RUNTIME": "", **settings}  # fmt: skip
    done = run(["bash", "slurm/setup_container.sh"], cwd=project, env=env, check=False)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    if "apptainer" in message:
        assert "module load apptainer" in done.stderr
    assert not (tmp_path / "containers").exists()  # nothing made


# Apptainer's place, for the one decision setup_container.sh makes itself (build or not):
# Debian has no Apptainer. `build --force OUT SOURCE` copies the archive SOURCE names into
# OUT and counts the build; `exec` succeeds (the image's check is tested with Charliecloud).
STANDIN_APPTAINER = """#!/bin/sh
case "$1" in
  build) echo built >>"$BUILDS"; cp "${4#docker-archive://}" "$3" ;;
  exec) exit 0 ;;
esac
"""


def test_setup_container_rebuilds_for_a_new_archive_at_the_same_path(project, tmp_path):
    """A new `docker save` copied over the old archive is a new image, not "nothing to do"."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apptainer").write_text(STANDIN_APPTAINER)
    (bin_dir / "apptainer").chmod(0o755)
    archive, sif, builds = tmp_path / "image.tar", tmp_path / "c" / "p.sif", tmp_path / "builds"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PROJECT_CONTAINER": str(sif), "IMAGE": "",
           "IMAGE_ARCHIVE": str(archive), "PROJECT_CONTAINER_RUNTIME": "",
           "BUILDS": str(builds)}  # fmt: skip
    for content, expected_builds in [("old image", 1), ("old image", 1), ("new image", 2)]:
        archive.write_text(content)
        run(["bash", "slurm/setup_container.sh"], cwd=project, env=env)
        assert sif.read_text() == content
        assert len(builds.read_text().splitlines()) == expected_builds


# --------------------------------------------------------------------------
# The workflow that publishes the image.


def lint_workflow(folder: Path) -> list[str]:
    """Problems actionlint and zizmor (offline) find in folder's publishing workflow."""
    workflow = folder / ".github" / "workflows" / "publish-image.yml"
    return workflow_problems(workflow, "--persona=auditor")


def test_publish_workflow_is_clean(project):
    workflow = (project / ".github" / "workflows" / "publish-image.yml").read_text()
    assert "--target base" in workflow and "TF_VARIANT=gpu" in workflow
    assert "workflow_dispatch" in workflow and "tags:" in workflow
    assert lint_workflow(project) == []


@pytest.mark.parametrize(
    ("mistake", "fixed"),
    [
        ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@v4"),
        ("persist-credentials: false", "persist-credentials: true"),
        ("SHA: ${{ github.sha }}\n", "SHA: ${{ github.sha }}\n          X: ${{ github.nope }}\n"),
    ],
)
def test_workflow_lint_catches_a_planted_mistake(project, tmp_path, mistake, fixed):
    folder = tmp_path / "p"
    shutil.copytree(project / ".github", folder / ".github")
    workflow = folder / ".github" / "workflows" / "publish-image.yml"
    text = workflow.read_text()
    assert mistake in text
    workflow.write_text(text.replace(mistake, fixed))
    assert lint_workflow(folder) != []
