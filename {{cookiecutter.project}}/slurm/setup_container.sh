#!/bin/bash
# The container route: turn the project's image into ONE Apptainer image file (.sif) on
# Quest. Run it once on a login node (compute nodes have no internet), from the project:
#   IMAGE=docker://ghcr.io/<github-user>/{{ cookiecutter.project }}:<tag> bash slurm/setup_container.sh
#   IMAGE_ARCHIVE=~/{{ cookiecutter.project }}-base.tar bash slurm/setup_container.sh   # a `docker save` archive
# Then every jobscript runs inside it:
#   sbatch --export=ALL,PROJECT_CONTAINER=<the .sif it prints> slurm/gpu_check.sh
# Settings (environment variables):
#   IMAGE=docker://...        the image the publish-image workflow pushed (docs/quest-containers.md)
#   IMAGE_ARCHIVE=/path.tar   or: an archive made by `docker save` on your laptop
#   PROJECT_CONTAINER=/path   the .sif to write (default below: your project space)
# Running it again with the same image does nothing; with another image (or another archive
# at the same path) it rebuilds. A docker:// tag that now names a newer image: delete the .sif.
set -euo pipefail

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_root"
# shellcheck source=common.sh
source slurm/common.sh

die() {
    echo "error: $*" >&2
    exit 2
}

# Check the settings before touching anything.
image="${IMAGE:-}" archive="${IMAGE_ARCHIVE:-}"
if [[ -n $image && -n $archive ]]; then
    die "set IMAGE or IMAGE_ARCHIVE, not both"
elif [[ -n $image ]]; then
    [[ $image == docker://* ]] || die "IMAGE must start with docker://, e.g. docker://ghcr.io/<github-user>/{{ cookiecutter.project }}:<tag>"
    source="$image"
elif [[ -n $archive ]]; then
    [[ -f $archive ]] || die "IMAGE_ARCHIVE=$archive: no such file (copy it here with scp first)"
    source="docker-archive://$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")"
else
    die "say which image: IMAGE=docker://ghcr.io/<github-user>/{{ cookiecutter.project }}:<tag> or IMAGE_ARCHIVE=<file>.tar"
fi
sif="${PROJECT_CONTAINER:-/projects/{{ cookiecutter.quest_account }}/{{ cookiecutter.netid }}/containers/{{ cookiecutter.project }}.sif}"
[[ $sif == /*.sif ]] || die "PROJECT_CONTAINER must be an absolute path ending in .sif, not '$sif'"
if [[ -n "${SLURM_JOB_ID:-}" && -n $image ]]; then
    echo "warning: inside Slurm job $SLURM_JOB_ID: Quest compute nodes have no internet;" >&2
    echo "         run this on a login node instead." >&2
fi

# Apptainer is Singularity's new name; Quest has one of them as a module.
runtime="$(find_container_runtime)" || exit 1
case "$(basename "$runtime")" in
    apptainer | singularity) ;;
    *) die "PROJECT_CONTAINER_RUNTIME=$runtime: this script builds .sif files with apptainer or singularity" ;;
esac

# Idempotent: the source of the last build is written beside the .sif. An archive is
# known by its content too (a new `docker save` copied over the old one keeps its name).
identity="$source"
if [[ -n $archive ]]; then
    echo "Checking $archive (its checksum tells a new archive from the one built before)"
    identity="$source sha256:$(sha256sum <"$archive" | cut -d' ' -f1)"
fi
if [[ -f "$sif" && "$(cat "$sif.source" 2>/dev/null)" == "$identity" ]]; then
    echo "Image exists: $sif (from $identity); nothing to do."
else
    folder="$(dirname "$sif")"
    mkdir -p "$folder" || die "cannot create $folder; set PROJECT_CONTAINER to a place you can write"
    # Layers are downloaded and squashed in the cache and temp folders: several GB, more
    # than the home quota, so keep them in the project space unless you chose otherwise.
    export APPTAINER_CACHEDIR="${APPTAINER_CACHEDIR:-$folder/.apptainer/cache}"
    export APPTAINER_TMPDIR="${APPTAINER_TMPDIR:-$folder/.apptainer/tmp}"
    export SINGULARITY_CACHEDIR="${SINGULARITY_CACHEDIR:-$APPTAINER_CACHEDIR}"
    export SINGULARITY_TMPDIR="${SINGULARITY_TMPDIR:-$APPTAINER_TMPDIR}"
    mkdir -p "$APPTAINER_CACHEDIR" "$APPTAINER_TMPDIR"
    echo "Building $sif from $source (cache: $APPTAINER_CACHEDIR)"
    # Build beside the target, then rename: a failed build leaves the old image usable.
    "$runtime" build --force "$sif.part" "$source"
    mv -f "$sif.part" "$sif"
    echo "$identity" >"$sif.source"
fi

# Prove the image works here: the package imports and TensorFlow loads.
check="import $PACKAGE, tensorflow as tf; print('$PACKAGE', $PACKAGE.__version__, '| TensorFlow', tf.__version__)"
"$runtime" exec "$sif" python -c "$check" || die "the image does not import $PACKAGE and TensorFlow"

echo
echo "Ready. Run any jobscript inside the image:"
echo "  sbatch --export=ALL,PROJECT_CONTAINER=$sif slurm/gpu_check.sh"
