"""Data sets too big to ship with the project: fetched once, kept in one data folder.

Quest's compute nodes have no internet. A job that downloads its data (as
``keras.datasets.mnist.load_data()`` does) fails -- after waiting in the queue. So:

1. fetch a data set ONCE, on a login node (or your laptop), with a checksum:
       python -m <package> fetch-data mnist
2. jobs only read it; one that finds it missing stops at once and prints that command.

Where the data folder is (``data_dir``): the variable ``PROJECT_DATA`` if set;
else on Quest your allocation's project space (``QUEST_DATA``: home has a small
quota, and data sets are big); else the project's own ``data/`` folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

#: Quest's default: your folder in the allocation's project space.
QUEST_DATA = Path("/projects/{{ cookiecutter.quest_account }}/{{ cookiecutter.netid }}/data")
#: The project's folder (src/<package>/datasets.py -> three levels up).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = __name__.split(".")[0]


@dataclasses.dataclass(frozen=True)
class Dataset:
    file: str  # its name in the data folder
    url: str
    sha256: str  # the checksum: a file that does not match it is never kept
    about: str


#: Real data sets, with the URLs and SHA-256 checksums Keras itself uses for them.
REGISTRY = {
    "mnist": Dataset(
        file="mnist.npz",
        url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        about="70,000 handwritten digits, 28x28 grey (11 MB); used by `vae --dataset mnist`",
    ),
    "cifar10": Dataset(
        file="cifar-10-python.tar.gz",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        about="60,000 colour images, 32x32, 10 classes (163 MB)",
    ),
}


def data_dir() -> Path:
    """The folder that holds fetched data sets (see the module's docstring)."""
    if os.environ.get("PROJECT_DATA"):
        return Path(os.environ["PROJECT_DATA"]).expanduser()
    if QUEST_DATA.parent.parent.is_dir():  # /projects/<allocation> exists: we are on Quest
        return QUEST_DATA
    return PROJECT_ROOT / "data"


def fetch_command(name: str) -> str:
    """The exact command that fetches ``name`` into the data folder in use now."""
    return f"PROJECT_DATA={data_dir()} python -m {PACKAGE} fetch-data {name}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require(name: str) -> Path:
    """The path of data set ``name``, checked; never downloads.

    Raises ``ValueError`` naming the fetch command when it is missing or damaged:
    a job stops at its first second, not after its first epoch.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(REGISTRY)}")
    entry, path = REGISTRY[name], data_dir() / REGISTRY[name].file
    if not path.is_file():
        problem = f"the {name} data set is not in {path.parent} (no file {entry.file})"
    elif sha256_of(path) != entry.sha256:
        problem = f"{path} is damaged or incomplete (its SHA-256 checksum is wrong)"
    else:
        return path
    raise ValueError(
        f"{problem}. A job never downloads (Quest's compute nodes have no internet): "
        f"fetch it once, on a login node, with:\n  {fetch_command(name)}"
    )
