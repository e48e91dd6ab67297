"""What the Apple Silicon proof costs: linux/arm64 under qemu beside native x86-64.

    python -m bench.arm64 [--builds 1] [--imports 3]

Bakes the template and builds what the generated `.devcontainer/cpu/devcontainer.json`
builds (the `dev` target, TF_VARIANT=cpu) twice with podman:
  arm64   --platform linux/arm64, Python 3.11 (harness/containers/standin-arm64.sh), emulated;
  x86-64  native, Python 3.12 (harness/containers/standin.sh), the suites' usual stand-in.
Each build is `--no-cache` (every step runs again; downloaded wheels stay in the
Dockerfile's cache mount, so the download is not counted; warm once first). Then
`import tensorflow` is timed in a fresh container of each image (`--builds 0`: no
timed build, only the imports after a cached one). Prints medians
and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.bake import bake
from harness.podman import CONTAINERS, PODMAN_ENV, podman, standin_base_image
from harness.processes import run

IMAGE = "localhost/bench-arm64"
TIMED_IMPORT = (
    "import time; t = time.perf_counter(); import tensorflow; print(time.perf_counter() - t)"
)
TARGETS = {  # name: (python_version, podman platform options)
    "arm64 (qemu)": ("3.11", ["--platform", "linux/arm64"]),
    "x86-64 (native)": ("3.12", []),
}


def build(project: Path, tag: str, platform: list[str], *extra: str) -> float:
    start = time.perf_counter()
    podman(
        "build", *platform, *extra, "--target", "dev", "--build-arg", "TF_VARIANT=cpu",
        "-t", f"{IMAGE}:{tag}", project,
    )  # fmt: skip
    return time.perf_counter() - start


def import_seconds(tag: str, platform: list[str]) -> float:
    out = podman("run", "--rm", *platform, f"{IMAGE}:{tag}", "python", "-c", TIMED_IMPORT)
    return float(out.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--builds", type=int, default=1, help="timed --no-cache builds per platform (0: none)"
    )
    parser.add_argument("--imports", type=int, default=3, help="timed imports per platform")
    args = parser.parse_args()
    if args.builds < 0 or args.imports < 1:
        parser.error("--builds must be at least 0 and --imports at least 1")

    run([CONTAINERS / "emulation.sh"])
    run([CONTAINERS / "standin-arm64.sh"], env=PODMAN_ENV)
    standin_base_image("3.12")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-arm64-") as tmp:
        for name, (python, platform) in TARGETS.items():
            project = bake(Path(tmp) / python, python_version=python)
            tag = "arm64" if platform else "amd64"
            print(f"{name}: warming the build", flush=True)
            build(project, tag, platform)
            builds = []
            for n in range(args.builds):
                builds.append(build(project, tag, platform, "--no-cache"))
                print(f"{name}: build {n + 1}: {builds[-1]:.0f} s", flush=True)
            imports = [import_seconds(tag, platform) for _ in range(args.imports)]
            size = int(podman("image", "inspect", "--format", "{{.Size}}", f"{IMAGE}:{tag}").stdout)
            results[name] = {"python": python, "build_seconds": builds,
                             "import_tensorflow_seconds": imports, "image_bytes": size}  # fmt: skip

    print("\n`dev` target, TF_VARIANT=cpu; medians:")
    print(f"    {'':16s} {'build --no-cache':>17s} {'import tensorflow':>18s} {'image':>8s}")
    for name, r in results.items():
        build_median = statistics.median(r["build_seconds"]) if r["build_seconds"] else math.nan
        print(
            f"    {name:16s} {build_median:15.0f} s "
            f"{statistics.median(r['import_tensorflow_seconds']):16.1f} s "
            f"{r['image_bytes'] / 1e9:6.2f} GB"
        )
    arm, x86 = results["arm64 (qemu)"], results["x86-64 (native)"]
    for key, label in (("build_seconds", "build"), ("import_tensorflow_seconds", "import")):
        if not arm[key]:
            continue
        ratio = statistics.median(arm[key]) / statistics.median(x86[key])
        print(f"    emulation slows the {label} by {ratio:.1f}x")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
