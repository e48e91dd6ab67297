"""Benchmark the container route on mini-Quest: the image against the venv (issue: container route).

    python -m bench.container_route [--repeats 5] [--squash]

Bakes a project (short partition, no GPU), makes its venv with slurm/setup_env.sh (CPU
TensorFlow) and its `base` image with podman (TF_VARIANT=cpu), converted by Charliecloud's
ch-convert into a directory image (and, with --squash, into a SquashFS file: the format
inside Apptainer's .sif). Then, on mini-Quest, the GPU-check job runs with the venv and
inside the image (ch-run), alternately, and for each:

(a) sbatch -> the first line Python writes to the log ("Hello from ..."): start-up overhead;
(b) sbatch -> the job has left the queue: the GPU check's wall time.

Prints medians over the repeats, the sizes (podman image, directory image, SquashFS file)
and a JSON line with everything. Needs root, Slurm, podman and Charliecloud
(`nox -s container_route` installs them); run from the template's root.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.bake import DEFAULTS
from harness.miniquest import Cluster, Project, prerequisites
from harness.podman import build, ch_convert, podman

IMAGE = "localhost/hpc-test:bench"


def timed_gpu_check(cluster: Cluster, project: Path, export: dict[str, str]):
    """(seconds to Python's first log line, seconds until out of the queue)."""
    start = time.perf_counter()
    job = Project(project, export).submit(cluster, "gpu_check")
    log = project / "logs" / f"gpu-check-{job}.out"
    cluster.wait(job, poll=0.02, until=lambda: log.exists() and "Hello from" in log.read_text())
    first = time.perf_counter() - start
    cluster.wait(job, poll=0.02)
    took = time.perf_counter() - start
    assert cluster.final(job)["JobState"] == "COMPLETED", log.read_text()
    return first, took  # first: when the line appeared, or the job left without it


def du_bytes(path: Path) -> int:
    return int(
        subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--squash", action="store_true", help="also make and run a SquashFS image")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")
    why_not = prerequisites() or (None if shutil.which("ch-run") else "ch-run not found")
    if why_not:
        sys.exit(f"error: {why_not}")

    root = Path(tempfile.mkdtemp(prefix="bench-route-"))
    root.chmod(0o755)
    numbers: dict[str, list] = {}
    sizes: dict[str, int] = {}
    cluster = None
    try:
        venv = Project.with_env(root, partition="short", gpu="none", gpus_per_node="0")
        project = venv.path
        build(project, "base", IMAGE, python=DEFAULTS["python_version"][0])
        sizes["podman image"] = int(
            podman("image", "inspect", IMAGE, "--format", "{{.Size}}").stdout
        )
        images = {"dir": root / "image"}
        start = time.perf_counter()
        ch_convert(IMAGE, images["dir"])
        numbers["ch-convert podman -> dir s"] = [time.perf_counter() - start]
        sizes["directory image"] = du_bytes(images["dir"])
        if args.squash:
            images["squash"] = root / "image.sqfs"
            start = time.perf_counter()
            ch_convert(IMAGE, images["squash"], "squash")
            numbers["ch-convert podman -> squash s"] = [time.perf_counter() - start]
            sizes["SquashFS image"] = images["squash"].stat().st_size

        routes = {"venv": venv.export}
        for kind, path in images.items():
            routes[f"ch-run {kind}"] = {
                "PROJECT_CONTAINER": str(path),
                "PROJECT_CONTAINER_RUNTIME": "ch-run",
            }
        cluster = Cluster.start()
        timed_gpu_check(cluster, project, routes["venv"])  # the first job waits for the nodes
        for _ in range(args.repeats):
            for name, export in routes.items():
                first, took = timed_gpu_check(cluster, project, export)
                numbers.setdefault(f"gpu-check {name}: sbatch -> first line s", []).append(first)
                numbers.setdefault(f"gpu-check {name}: wall s", []).append(took)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        podman("rmi", IMAGE, check=False)

    print(f"medians over {args.repeats} repeats")
    for key, values in numbers.items():
        print(f"  {key:52s} {statistics.median(values):8.2f}   {[round(v, 2) for v in values]}")
    for key, size in sizes.items():
        print(f"  size of the {key:39s} {size / 1e9:8.2f} GB")
    print(json.dumps({**{k: statistics.median(v) for k, v in numbers.items()}, **sizes}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
