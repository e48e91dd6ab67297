"""Benchmark the generated Dockerfile against the course's pattern (issue: Containers).

    python -m bench.containers [--repeats 3] [--python 3.12]

Bakes the template with the defaults and builds with podman on the local stand-in
base image (harness/containers/standin.sh), CPU variant, in one run:

(a) rebuild time of the `dev` image after a one-line source edit, beside the same
    edit with the course's Dockerfile (`COPY . /app` then
    `pip install --no-cache-dir -r requirements.txt`, with the same packages);
    the ratio course / ours;
(b) size our layers add to the base image (`base` and `dev` targets) beside the
    size the course's pattern adds;
(c) seconds from `podman run` of the code-server image to `/healthz` answering.

Each build is warmed once first (both then start from their own cache). Every edit
is a line no earlier run wrote (a fixed line is answered by podman's cache on a second
run: the "rebuild" then took 0.36 s), and each timed rebuild must have made at least
one new layer, or the benchmark stops saying so. Prints medians over the repeats, and
a JSON line with everything.

    python -m bench.containers --devcontainers [--min-free-gb 40]

(d) instead: the first build of each devcontainer image, "CPU / Apple Silicon"
    (TF_VARIANT=cpu) beside "NVIDIA GPU" (TF_VARIANT=gpu), `dev` target, with
    --no-cache (every layer built; wheels already in uv's cache mount are not
    downloaded again, so on a student's first build add the download); seconds,
    image size, and how many nvidia-* packages are inside. The GPU image (CUDA
    wheels, several GB) is built only if the disk has --min-free-gb free;
    otherwise its dependency step is only resolved.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path

from harness.bake import bake
from harness.podman import podman, standin_base_image
from harness.processes import free_port, wait_for_http

IMAGE = "localhost/bench-containers"
COURSE_DOCKERFILE = """\
# The course's pattern (lecture: "Docker | Deep Learning Container"), on the same base.
FROM {base}
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -r requirements.txt
CMD ["python", "-m", "{package}", "gpu-check"]
"""


def course_requirements(pyproject: Path) -> str:
    """The packages our `dev` image gets (dependencies, cpu, test, dev extras) as one list."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + extras["cpu"] + extras["test"] + extras["dev"]
    own = project["name"]
    return "\n".join([r for r in wanted if not r.startswith(own)] + ["-e ."]) + "\n"


def build(context: Path, tag: str, *options: str) -> float:
    start = time.perf_counter()
    podman("build", *options, "-t", f"{IMAGE}:{tag}", context)
    return time.perf_counter() - start


def edit(source: Path) -> None:
    """Append a line no earlier run wrote, so no build cache can answer the rebuild."""
    source.write_text(source.read_text() + f"# one-line edit {uuid.uuid4().hex}\n")


def layers(image: str) -> list[str]:
    return podman("image", "inspect", "--format", "{{json .RootFS.Layers}}", image).stdout


def timed_rebuild(context: Path, tag: str, *options: str) -> float:
    """Rebuild after an edit; fail if every layer came from the cache (nothing rebuilt)."""
    before = set(json.loads(layers(f"{IMAGE}:{tag}")))
    seconds = build(context, tag, *options)
    new = [layer for layer in json.loads(layers(f"{IMAGE}:{tag}")) if layer not in before]
    if not new:
        raise RuntimeError(f"{tag}: the edit rebuilt no layer; the time measures the cache")
    return seconds


def size(image: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)


def healthz_seconds() -> float:
    port = free_port()
    start = time.perf_counter()
    # CODE_SERVER_LISTEN=all: code-server listens on the container's loopback otherwise,
    # where a published port does not reach it (the README's `docker run` says the same).
    published = ["-p", f"127.0.0.1:{port}:8080", "-e", "CODE_SERVER_LISTEN=all"]
    options = [*published, "-e", "PASSWORD=bench"]
    name = podman("run", "-d", *options, f"{IMAGE}:code-server").stdout.strip()
    try:
        if not wait_for_http(port, "/healthz", poll=0.02, attempts=20000):
            raise RuntimeError("code-server never answered /healthz")
        return time.perf_counter() - start
    finally:
        podman("rm", "-f", name, check=False)


def nvidia_packages(image: str) -> list[str]:
    listing = podman("run", "--rm", image, "uv", "pip", "list").stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith("nvidia-")]


def devcontainer_images(python: str, min_free_gb: float) -> int:
    """(d): first build time and size of the CPU and the GPU devcontainer image."""
    standin_base_image(python)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-devcontainers-") as tmp:
        project = bake(Path(tmp), python_version=python)
        for variant in ("cpu", "gpu"):
            tag = f"{IMAGE}:devcontainer-{variant}"
            free_gb = shutil.disk_usage(tmp).free / 1e9
            if variant == "gpu" and free_gb < min_free_gb:
                plan = podman("run", "--rm", "-v", f"{project}:/p:ro", "-w", "/p",
                              f"{IMAGE}:devcontainer-cpu", "uv", "pip", "install", "--dry-run",
                              "-r", "pyproject.toml", "--extra", "gpu")  # fmt: skip
                text = plan.stdout + plan.stderr
                results[variant] = {
                    "built": False,
                    "free_gb": free_gb,
                    "resolved_nvidia": re.findall(r"(?m)^ \+ (nvidia-[\w-]+)==", text),
                }
                continue
            seconds = build(project, f"devcontainer-{variant}", "--no-cache", "--target", "dev",
                            "--build-arg", f"TF_VARIANT={variant}")  # fmt: skip
            results[variant] = {
                "built": True,
                "seconds": seconds,
                "bytes": size(tag),
                "nvidia_packages": nvidia_packages(tag),
            }
    print("(d) first build of the devcontainer image (dev target, --no-cache):")
    for variant, found in results.items():
        if found["built"]:
            print(
                f"    {variant}: {found['seconds']:7.1f} s, {found['bytes'] / 1e9:5.2f} GB, "
                f"{len(found['nvidia_packages'])} nvidia-* packages"
            )
        else:
            print(
                f"    {variant}: not built ({found['free_gb']:.0f} GB free); resolves "
                f"{len(found['resolved_nvidia'])} nvidia-* packages"
            )
    print(json.dumps({"devcontainer_first_build": results}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python", default="3.12", help="python_version to bake (default 3.12)")
    parser.add_argument(
        "--devcontainers", action="store_true", help="only (d): CPU vs GPU devcontainer image"
    )
    parser.add_argument("--min-free-gb", type=float, default=40.0, help="to build the GPU image")
    args = parser.parse_args()
    if args.devcontainers:
        return devcontainer_images(args.python, args.min_free_gb)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    base_image = standin_base_image(args.python)
    with tempfile.TemporaryDirectory(prefix="bench-containers-") as tmp:
        ours = bake(Path(tmp) / "ours", python_version=args.python)
        package = ours.name.replace("-", "_")
        course = Path(tmp) / "course"
        shutil.copytree(ours, course, ignore=shutil.ignore_patterns(".git"))
        (course / "Dockerfile").write_text(
            COURSE_DOCKERFILE.format(base=base_image, package=package)
        )
        (course / "requirements.txt").write_text(course_requirements(course / "pyproject.toml"))

        cpu = ("--build-arg", "TF_VARIANT=cpu")
        print("warming: our base, dev, code-server; the course image", flush=True)
        build(ours, "base", "--target", "base", *cpu)
        build(ours, "dev", "--target", "dev", *cpu)
        build(ours, "code-server", "--target", "code-server", *cpu)
        build(course, "course")

        rebuild = {"ours (dev)": [], "course pattern": []}
        for n in range(args.repeats):
            edit(ours / "src" / package / "cli.py")
            rebuild["ours (dev)"].append(timed_rebuild(ours, "dev", "--target", "dev", *cpu))
            edit(course / "src" / package / "cli.py")
            rebuild["course pattern"].append(timed_rebuild(course, "course"))
            print(
                f"rebuild {n + 1}: ours {rebuild['ours (dev)'][-1]:.1f} s, "
                f"course {rebuild['course pattern'][-1]:.1f} s",
                flush=True,
            )

        base_size = size(base_image)
        added = {
            "ours base": size(f"{IMAGE}:base") - base_size,
            "ours dev": size(f"{IMAGE}:dev") - base_size,
            "course pattern": size(f"{IMAGE}:course") - base_size,
        }
        startup = [healthz_seconds() for _ in range(max(args.repeats, 5))]

    medians = {k: statistics.median(v) for k, v in rebuild.items()}
    ratio = medians["course pattern"] / medians["ours (dev)"]
    print(f"\n(a) rebuild after a one-line source edit, median of {args.repeats}:")
    for name, seconds in medians.items():
        print(f"    {name:16s} {seconds:7.1f} s")
    print(f"    ratio course / ours: {ratio:.1f}x")
    print(f"(b) size added to the base image ({base_size / 1e6:.0f} MB), CPU variant:")
    for name, nbytes in added.items():
        print(f"    {name:16s} {nbytes / 1e6:7.0f} MB")
    print(f"(c) code-server: podman run -> /healthz answers, median of {len(startup)}:")
    print(
        f"    {statistics.median(startup):.2f} s (min {min(startup):.2f}, max {max(startup):.2f})"
    )
    print(
        json.dumps(
            {
                "rebuild_seconds": rebuild,
                "rebuild_median_seconds": medians,
                "rebuild_ratio": ratio,
                "base_image_bytes": base_size,
                "added_bytes": added,
                "code_server_healthz_seconds": startup,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
