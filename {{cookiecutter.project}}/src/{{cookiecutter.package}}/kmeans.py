"""A quick k-means, for the mixture's starting point (``GaussianMixture.initialize``).

k-means++ seeding (each new centre far from the others), then Lloyd steps (each
point to its nearest centre, each centre to the mean of its points) until no
point changes its centre. scikit-learn starts its EM for a mixture from k-means too.
"""

from __future__ import annotations

import numpy as np


def nearest(z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The index of the nearest centre, for each row of ``z``.

    |z - c|^2 = |z|^2 - 2 z.c + |c|^2, and |z|^2 is the same for every centre: so
    one matrix product finds them all (four times faster than subtracting).
    """
    return ((centres**2).sum(axis=1) - 2 * z @ centres.T).argmin(axis=1)


def kmeans(z: np.ndarray, k: int, rng: np.random.Generator, rounds: int = 10) -> np.ndarray:
    """``k`` centres for the rows of ``z`` (at most ``rounds`` Lloyd steps)."""
    centres = [z[rng.integers(len(z))]]
    for _ in range(1, k):
        d2 = ((z[:, None, :] - np.array(centres)[None]) ** 2).sum(-1).min(axis=1)
        total = d2.sum()
        p = d2 / total if total > 0 else None
        centres.append(z[rng.choice(len(z), p=p)])
    centres, labels = np.array(centres), None
    for _ in range(rounds):
        previous, labels = labels, nearest(z, centres)
        if np.array_equal(labels, previous):
            break  # converged: the same points, so the same means
        for j in range(k):
            members = z[labels == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    return centres


def mixture_start(z: np.ndarray, k: int, seed: int):
    """(weights, means, covariances) of ``k`` k-means clusters of ``z`` (at most 10 000 rows)."""
    rng = np.random.default_rng(seed)
    if len(z) > 10_000:
        z = z[rng.choice(len(z), 10_000, replace=False)]
    centres = kmeans(z, k, rng)
    labels = nearest(z, centres)
    dim = z.shape[1]
    weights, covariances = np.empty(k), np.empty((k, dim, dim))
    for j in range(k):
        members = z[labels == j]
        weights[j] = max(len(members), 1) / len(z)
        covariances[j] = np.eye(dim) * 0.1
        if len(members) > dim:
            covariances[j] = np.cov(members.T, bias=True).reshape(dim, dim) + 1e-3 * np.eye(dim)
    return weights, centres, covariances
