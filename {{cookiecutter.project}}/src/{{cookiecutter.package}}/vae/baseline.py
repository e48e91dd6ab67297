"""The same observation model without a latent code: what the VAE must beat.

Every pixel is its own coin, independent of the others, with the probability
of white fitted by maximum likelihood: the fraction of training images in which
that pixel is white (the lecture's Bernoulli MLE, once per pixel). It knows
where ink usually is, but not that the pixels of one stroke go together; the
VAE's code z is what ties them together.
"""

from __future__ import annotations

import numpy as np


def independent_pixels(train: np.ndarray) -> np.ndarray:
    """The MLE of each pixel's probability of being white, kept a little away from 0 and 1.

    A pixel white in no training image has MLE 0, and a held-out image with it
    white would get probability 0 (an infinite NLL). Moving the estimate by half
    an image, 1/(2N), avoids that (and only makes the baseline harder to beat).
    """
    n = len(train)
    return np.clip(train.mean(axis=0), 1 / (2 * n), 1 - 1 / (2 * n))


def nll(probabilities: np.ndarray, images: np.ndarray) -> float:
    """The mean negative log-likelihood, in nats per image, of ``images`` under the coins."""
    p = probabilities.astype(np.float64)
    log_p = images * np.log(p) + (1 - images) * np.log1p(-p)
    return float(-log_p.reshape(len(images), -1).sum(axis=1).mean())
