"""The VAE's images: black-and-white pictures of handwritten digits, and a held-out set.

* ``digits`` (the default): scikit-learn's 1797 digits of 8x8 pixels. They ship
  inside scikit-learn, so they need no download: the starter runs anywhere.
* ``mnist``: 70,000 digits of 28x28 pixels. Fetch them once on a login node
  (``python -m <package> fetch-data mnist``); a job never downloads.

Each pixel is made black (0) or white (1), so p(x|z) can be one coin per pixel
(a Bernoulli): the "observation model" of the lecture.
"""

from __future__ import annotations

import numpy as np

from .. import datasets

DATASETS = ("digits", "mnist")
#: Digits kept out of training (the digits set has no test set of its own).
HELD_OUT = 300


def load_images(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)`` images of ``name``: float32 arrays N x height x width of 0s and 1s.

    Raises ``ValueError`` with the command that fetches a missing data set.
    """
    if name == "digits":
        return _digits(seed)
    if name == "mnist":
        return _mnist()
    raise ValueError(f"unknown image data set {name!r}; choose one of: {', '.join(DATASETS)}")


def _digits(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    grey = load_digits().images  # 0 (white paper) to 16 (full ink)
    images = (grey >= 8).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(images))
    return images[order[HELD_OUT:]], images[order[:HELD_OUT]]


def _mnist() -> tuple[np.ndarray, np.ndarray]:
    path = datasets.require("mnist")  # refuses, with the fetch command, if missing
    with np.load(path, allow_pickle=False) as arrays:
        train, test = arrays["x_train"], arrays["x_test"]
    return (train >= 128).astype(np.float32), (test >= 128).astype(np.float32)
