"""Download one file, keep it only if its checksum matches: never a partial file.

Why not ``keras.utils.get_file``? It writes straight to the final file name (a
download that is cut off leaves a truncated file there), keeps a file whose
checksum does not match, and falls back to /tmp without a word when the folder
is not writable. This function streams into a hidden ``.part`` file beside the
target, checks the SHA-256, and only then renames it (an atomic step): the
target is either the whole, right file, or not there at all.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT_SECONDS = 60


def in_a_job() -> str | None:
    """The Slurm job id when this runs inside a job (no internet on Quest's compute nodes)."""
    return os.environ.get("SLURM_JOB_ID")


def download(url: str, sha256: str, target: Path) -> Path:
    """Fetch ``url`` into ``target`` if its SHA-256 is ``sha256``; raise ``ValueError`` if not."""
    if in_a_job():
        raise ValueError(
            f"this is Slurm job {in_a_job()}, and Quest's compute nodes have no internet: "
            "download on a login node (or your laptop), then submit the job"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # A hidden name beside the target: on the same disk, so the rename below is atomic.
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            digest = _copy(url, file)
        if digest != sha256:
            raise ValueError(
                f"{url}: wrong checksum, so the file was not kept: expected SHA-256 "
                f"{sha256}, got {digest}. Try again; if it happens again, the file at "
                "that address is not the one expected"
            )
        os.replace(part, target)  # all at once: no one ever sees half a file
    finally:
        Path(part).unlink(missing_ok=True)
    return target


def _copy(url: str, file) -> str:
    """Stream ``url`` into ``file``; return the SHA-256 of what arrived."""
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            promised = response.headers.get("Content-Length")
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                file.write(block)
                received += len(block)
    except urllib.error.HTTPError as err:
        raise ValueError(f"{url}: the server answered {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise ValueError(f"{url}: cannot connect ({err.reason}); are you online?") from None
    except (http.client.HTTPException, OSError) as err:
        raise ValueError(f"{url}: the download broke off ({err!r}); try again") from None
    if promised is not None and received != int(promised):
        raise ValueError(
            f"{url}: the download broke off after {received} of {promised} bytes; try again"
        )
    return digest.hexdigest()
