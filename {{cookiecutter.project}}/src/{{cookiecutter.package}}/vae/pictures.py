"""Pictures of a VAE: a grid of samples, and originals beside their reconstructions.

The arrays are grey levels in [0, 1], the form TensorBoard shows as images (the
trainer's ``report``) and ``save_png`` writes to a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .evaluate import reconstructions, samples


def grid(images: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """Tile N images (N x H x W) into one picture, ``columns`` wide, with grey gaps."""
    count, height, width = images.shape
    rows = -(-count // columns)
    canvas = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap), 0.5)
    for i, image in enumerate(images):
        top, left = gap + (i // columns) * (height + gap), gap + (i % columns) * (width + gap)
        canvas[top : top + height, left : left + width] = image
    return canvas.astype(np.float32)


def pictures(vae, held_out: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """``samples``: 64 new images. ``reconstructions``: rows of 8 held-out images, each
    row followed by the row of their reconstructions."""
    originals = held_out[:32]
    rebuilt = reconstructions(vae, originals)
    pairs = np.concatenate(
        [np.concatenate([originals[i : i + 8], rebuilt[i : i + 8]]) for i in range(0, 32, 8)]
    )
    return {
        "samples": grid(samples(vae, 64, seed=seed), columns=8),
        "reconstructions": grid(pairs, columns=8),
    }


def save_png(picture: np.ndarray, path: Path, scale: int = 4) -> Path:
    """Write a grey picture to ``path``, each pixel as a ``scale`` x ``scale`` square."""
    import matplotlib.image

    big = np.kron(picture, np.ones((scale, scale)))
    matplotlib.image.imsave(path, big, cmap="gray", vmin=0, vmax=1)  # ink white, as in TensorBoard
    return path
