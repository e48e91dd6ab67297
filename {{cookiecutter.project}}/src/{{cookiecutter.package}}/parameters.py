"""How a density keeps its parameters valid while gradient descent moves them.

Gradient descent moves numbers anywhere on the real line, but a width must stay
positive and a covariance matrix symmetric positive definite. So each density in
``mle.py`` stores *raw*, unconstrained numbers and turns them into its parameters:
softplus for what must be positive, a Cholesky factor for a covariance. The raw
numbers are also in units of the data's spread: a step of 0.01 moves a mean by 1 %
of the data's width whether the data are in metres or in kilometres, so one
learning rate works for any data set (preconditioning).
"""

from __future__ import annotations

import numpy as np

from ._tf import import_tensorflow

tf = import_tensorflow()


def softplus_inverse(y):
    """The x with softplus(x) = log(1 + e^x) = y, for y > 0 (to set a positive parameter)."""
    y = np.asarray(y, dtype=np.float64)
    return y + np.log(-np.expm1(-y))


def tril(raw):
    """Lower-triangular matrices with a positive diagonal, from unconstrained numbers.

    Writing a covariance as Sigma = L L^T, with L lower-triangular and diag(L) > 0
    (a Cholesky factor), makes *every* setting of the raw numbers a valid
    covariance. softplus keeps the diagonal positive.
    """
    diagonal = tf.nn.softplus(tf.linalg.diag_part(raw)) + 1e-6
    return tf.linalg.set_diag(tf.linalg.band_part(raw, -1, 0), diagonal)


def raw_tril(scale_tril):
    """The raw numbers that ``tril`` turns into the Cholesky factors ``scale_tril``."""
    scale_tril = np.asarray(scale_tril, np.float64)
    diagonal = np.maximum(np.diagonal(scale_tril, axis1=-2, axis2=-1) - 1e-6, 1e-12)
    eye = np.eye(scale_tril.shape[-1])
    return np.tril(scale_tril, -1) + softplus_inverse(diagonal)[..., None] * eye


def weight(model, name, shape, value=0.0, trainable=True):
    """A parameter of ``model``, filled with ``value`` (Keras's ``add_weight``)."""
    start = np.broadcast_to(np.asarray(value, np.float32), shape)
    return model.add_weight(
        shape=shape, initializer=lambda *_, **__: start.copy(), trainable=trainable, name=name
    )


def columns(x) -> np.ndarray:
    """The points x (N, D) as D rows, one per axis, each contiguous in memory: NumPy
    sums along a row in one sweep, about ten times faster than down a column."""
    return np.ascontiguousarray(np.asarray(x).T)


def data_scale(x):
    """The data's centre and spread per axis (a spread of 0 counts as 1)."""
    per_axis = columns(x)
    spread = per_axis.std(axis=1)
    return per_axis.mean(axis=1), np.where(spread > 0, spread, 1.0)
