"""Densities fitted by maximum likelihood: the "hello world" of generative modelling.

The lecture's framework, in code:

* We have a data set X = {x_1, ..., x_n}, drawn from an unknown distribution p_data.
* A *parametric model* is a family of densities p_theta(x): each setting of the
  parameters theta is one density. Every density integrates to 1.
* The *likelihood* of theta given the data is L(theta | X) = p_theta(X)
  = prod_i p_theta(x_i) (the points are independent). It is a function of the
  parameters, not of the data: it says how likely the data are under theta, not
  how likely theta is to be "correct".
* The *log-likelihood* log p_theta(X) = sum_i log p_theta(x_i) turns the product
  into a sum: easier to differentiate, and it does not underflow to 0.
* The *maximum likelihood estimate* is theta_hat = argmax_theta p_theta(X),
  which is the same as argmin_theta -log p_theta(X): minimising the negative
  log-likelihood (NLL) is how a neural network is trained, with a loss.

Three families, one interface (``log_prob``, ``nll``, ``sample``, and
``fit_closed_form`` where a formula exists). Each is a ``keras.Model`` whose
``train_step`` is one step of gradient descent on the NLL, so Keras's own
``model.fit`` trains it, and so does the project's trainer (``python -m
<package> fit``: checkpoints, Slurm, several GPUs):

* ``Gaussian``: one bell, full covariance.
* ``Box``: uniform on an axis-aligned rectangle -- the lecture's world map model.
* ``GaussianMixture``: K bells with learnable weights.

``nll`` here is the *mean* NLL per point, in nats (natural log), so numbers for
data sets of different sizes can be compared.
"""

from __future__ import annotations

import math

import numpy as np

from ._tf import import_tensorflow
from .kmeans import mixture_start

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow, imported quietly)

LOG_2PI = math.log(2.0 * math.pi)


def _softplus_inverse(y):
    """The x with softplus(x) = log(1 + e^x) = y, for y > 0 (to set a positive parameter)."""
    y = np.asarray(y, dtype=np.float64)
    return y + np.log(-np.expm1(-y))


def _tril(raw):
    """Lower-triangular matrices with a positive diagonal, from unconstrained numbers.

    A covariance matrix must be symmetric positive definite. Writing it as
    Sigma = L L^T with L lower-triangular and diag(L) > 0 (a Cholesky factor) makes
    *every* setting of the raw numbers a valid covariance, so gradient descent can
    move them freely. softplus keeps the diagonal positive.
    """
    diagonal = tf.nn.softplus(tf.linalg.diag_part(raw)) + 1e-6
    return tf.linalg.set_diag(tf.linalg.band_part(raw, -1, 0), diagonal)


def _gaussian_log_prob(x, loc, scale_tril):
    """log N(x; mu_k, Sigma_k) for points x (N, D) and K Gaussians at once: returns (N, K).

        log N(x; mu, L L^T) = -D/2 log(2 pi) - sum_i log L_ii - |z|^2 / 2,
        where z solves  L z = x - mu.

    A triangular solve, not an inverse: L is triangular, so z is found by
    substitution, row by row. (sum_i log L_ii is half of log det Sigma.)
    """
    d = loc.shape[-1]
    difference = x[None, :, :] - loc[:, None, :]  # (K, N, D): every point minus every mean
    z = tf.linalg.triangular_solve(scale_tril, tf.linalg.matrix_transpose(difference))  # (K, D, N)
    log_det = tf.reduce_sum(tf.math.log(tf.linalg.diag_part(scale_tril)), axis=-1)  # (K,)
    log_n = -0.5 * tf.reduce_sum(tf.square(z), axis=-2) - log_det[:, None] - 0.5 * d * LOG_2PI
    return tf.transpose(log_n)  # (N, K)


def _weight(model, name, shape, value=0.0, trainable=True):
    """A parameter of ``model``, filled with ``value`` (Keras's ``add_weight``)."""
    start = np.broadcast_to(np.asarray(value, np.float32), shape)
    return model.add_weight(
        shape=shape, initializer=lambda *_, **__: start.copy(), trainable=trainable, name=name
    )


class Density(keras.Model):
    """What every family offers: ``log_prob``, ``nll``, ``sample(n, seed)``, ``mean()``,
    ``covariance()``, ``params()`` (for JSON), ``initialize(x, seed)`` and
    ``check_mle_exists(x)``; ``train_step`` is the lesson's step.

    Parameters are made in ``__init__`` (shapes only) and given values by
    ``initialize(x)``, the start that gradient descent improves on.
    """

    family = "density"
    #: True for a family that gradient descent cannot fit (the box; see ``Box``).
    closed_form_only = False
    #: Why a width of 0 along an axis has no maximum likelihood, in this family's terms.
    flat_axis = "its width there shrinks to 0"

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(dim, bool) or int(dim) != dim or dim < 1:
            raise ValueError(f"dimension must be a whole number, 1 or more; got {dim}")
        self.dim = int(dim)

    # -- the lesson: the NLL and one step of gradient descent ----------------------------
    def log_prob(self, x):
        """log p_theta(x) for each row of x: a tensor of shape (N,)."""
        raise NotImplementedError

    def call(self, x):
        return self.log_prob(x)

    def train_step(self, x):
        """One step of gradient descent: batch -> NLL (the loss) -> gradient -> optimizer step.

        A neural network is trained by the very same step; only ``log_prob`` is bigger.
        """
        with tf.GradientTape() as tape:  # records the computation, to differentiate it
            nll = -tf.reduce_mean(self.log_prob(x))  # mean NLL of the batch
        gradients = tape.gradient(nll, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        return {"nll": nll}  # of this batch, before the step

    def nll(self, x, chunk: int = 65536) -> float:
        """Mean negative log-likelihood per point, -1/N sum_i log p_theta(x_i), in nats."""
        x = np.asarray(x, np.float32)
        total = sum(
            float(tf.reduce_sum(tf.cast(self.log_prob(x[i : i + chunk]), tf.float64)))
            for i in range(0, len(x), chunk)
        )
        return -total / len(x)

    def fit_closed_form(self, x) -> Density:
        """Set the parameters to the MLE by a formula, where one exists."""
        raise NotImplementedError(f"the {self.family} has no closed-form MLE; use gradient descent")

    def check_mle_exists(self, x: np.ndarray) -> None:
        """Raise ``ValueError`` if no maximum-likelihood estimate exists for the points ``x``.

        Where none exists, gradient descent does not fail: it shrinks a width towards
        0 and reports an NLL that falls without limit (a wrong answer, not an error).
        Every family needs the model's dimension and some spread along every axis.
        """
        if x.shape[1] != self.dim:
            raise ValueError(f"points have {x.shape[1]} coordinates, the model has {self.dim}")
        low, high = x.min(axis=0), x.max(axis=0)
        flat = np.flatnonzero(high <= low)
        if flat.size:
            axis = int(flat[0])
            raise ValueError(
                f"every point has the same value on axis {axis} (column {axis + 1}, value "
                f"{low[axis]:g}): the {self.family} likelihood grows without limit as "
                f"{self.flat_axis}, so no maximum-likelihood estimate exists; "
                "drop that column or use more varied data"
            )

    def _set_scale(self, x: np.ndarray) -> None:
        """Remember the data's centre and spread (not trained).

        Parameters are learned *in units of the data's spread*: a step of 0.01 moves
        a mean by 1% of the data's width whether the data are in metres or in
        kilometres, so one learning rate works for any data set (preconditioning).
        """
        spread = x.std(axis=0)
        self.shift.assign(x.mean(axis=0))
        self.spread.assign(np.where(spread > 0, spread, 1.0))


class Gaussian(Density):
    """A Gaussian with full covariance: p(x) = N(x; mu, Sigma), Sigma = L L^T.

    Parameters: the mean ``loc`` (D numbers) and the Cholesky factor ``scale_tril``
    (lower-triangular, positive diagonal). The MLE has a closed form -- the sample
    mean and the *biased* sample covariance (divide by N, not N - 1) -- so this
    family is the check that gradient descent finds the maximum of the likelihood.
    """

    family = "gaussian"
    flat_axis = "it flattens there (its covariance is singular)"

    def __init__(self, dim: int, **kwargs):
        super().__init__(dim, **kwargs)
        self._parameters(self.dim)

    def _parameters(self, d: int, k: tuple = ()) -> None:
        """mu and L (``k``: one of each per mixture component); the data's scale."""
        self.shift = _weight(self, "shift", (d,), 0.0, trainable=False)
        self.spread = _weight(self, "spread", (d,), 1.0, trainable=False)
        self.loc_raw = _weight(self, "loc_raw", (*k, d))
        self.tril_raw = _weight(self, "tril_raw", (*k, d, d), np.eye(d) * _softplus_inverse(1.0))

    @property
    def loc(self):
        return self.shift + self.spread * self.loc_raw

    @property
    def scale_tril(self):
        return self.spread[:, None] * _tril(self.tril_raw)

    def log_prob(self, x):
        return _gaussian_log_prob(x, self.loc[None], self.scale_tril[None])[:, 0]

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        z = tf.random.stateless_normal([int(n), self.dim], seed=[int(seed), 0])
        return (self.loc + tf.linalg.matvec(self.scale_tril, z)).numpy()

    def mean(self) -> np.ndarray:
        return np.asarray(self.loc)

    def covariance(self) -> np.ndarray:
        scale = np.asarray(self.scale_tril, np.float64)
        return scale @ scale.T

    def params(self) -> dict:
        return {
            "loc": np.asarray(self.loc).tolist(),
            "scale_tril": np.asarray(self.scale_tril).tolist(),
            "covariance": self.covariance().tolist(),
        }

    def check_mle_exists(self, x: np.ndarray) -> None:
        """Also: more points than dimensions, not all on a line or plane."""
        if len(x) <= self.dim:
            raise ValueError(
                f"{len(x)} point(s) in {self.dim}-D: a {self.family} needs more points than "
                "dimensions (with fewer, the likelihood grows without limit as it shrinks)"
            )
        super().check_mle_exists(x)
        # Rank of the standardised points: tiny singular values mean a flat direction.
        values = np.asarray(x, np.float64)
        z = (values - values.mean(axis=0)) / values.std(axis=0)
        singular = np.linalg.svd(z / np.sqrt(len(x)), compute_uv=False)
        if singular.min() <= 1e-5 * singular.max():
            raise ValueError(
                f"the points lie on a line or plane in {self.dim}-D (one column is a "
                "combination of the others, so their covariance is singular): no "
                f"maximum-likelihood {self.family} exists; drop a redundant column"
            )

    def initialize(self, x, seed: int = 0) -> Gaussian:
        """Start at a randomly chosen data point, round, as wide as the data."""
        self.check_mle_exists(x)
        self._set_scale(x)
        start = x[np.random.default_rng(seed).integers(len(x))]
        self.loc_raw.assign((start - np.asarray(self.shift)) / np.asarray(self.spread))
        self.tril_raw.assign(np.eye(self.dim) * _softplus_inverse(1.0))
        return self

    def fit_closed_form(self, x) -> Gaussian:
        """mu_hat = mean of the points, Sigma_hat = 1/N sum_i (x_i - mu)(x_i - mu)^T.

        Setting the gradient of the log-likelihood to zero gives these formulas.
        """
        self.check_mle_exists(x)
        x = np.asarray(x, np.float64)
        self._set_scale(x)
        mu = x.mean(axis=0)
        chol = np.linalg.cholesky((x - mu).T @ (x - mu) / len(x))
        spread = np.asarray(self.spread, np.float64)
        self.loc_raw.assign((mu - np.asarray(self.shift)) / spread)
        pre = chol / spread[:, None]
        diag = np.maximum(np.diag(pre) - 1e-6, 1e-12)
        self.tril_raw.assign(np.tril(pre, -1) + np.diag(_softplus_inverse(diag)))
        return self


class Box(Density):
    """Uniform density on an axis-aligned box [low_1, high_1] x ... x [low_D, high_D].

    Inside the box p(x) = 1 / volume; outside p(x) = 0, so log p(x) = -inf.

    This is the lecture's world map model. Its MLE is the *smallest box that
    contains every point*: the likelihood is (1 / volume)^N while every point is
    inside, and 0 as soon as one point is outside. Shrinking the box raises the
    likelihood until a wall touches a data point, so the MLE is the per-axis
    minimum and maximum of the data.

    On the world map it beats a Gaussian (NLL about 10.3 against 10.6), and one new
    point outside it has log p = -inf: the notebook's section 3 says why, both.

    Gradient descent cannot find it: the NLL is infinite once a point is outside,
    and inside its gradient only says "shrink". So the box is fitted by the formula.
    """

    family = "box"
    closed_form_only = True
    flat_axis = "its width there shrinks to 0 (1 / volume is infinite)"

    def __init__(self, dim: int, **kwargs):
        super().__init__(dim, **kwargs)
        self.low = _weight(self, "low", (self.dim,), 0.0, trainable=False)
        self.high = _weight(self, "high", (self.dim,), 1.0, trainable=False)

    def log_prob(self, x):
        inside = tf.reduce_all((x >= self.low) & (x <= self.high), axis=-1)
        log_density = -tf.reduce_sum(tf.math.log(self.high - self.low))
        # tf.where, not a multiplication by 0/1: 0 * inf would be NaN.
        return tf.where(inside, log_density, tf.constant(-np.inf, tf.float32))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        u = tf.random.stateless_uniform([int(n), self.dim], seed=[int(seed), 0])
        return (self.low + (self.high - self.low) * u).numpy()

    def mean(self) -> np.ndarray:
        return (np.asarray(self.low) + np.asarray(self.high)) / 2

    def covariance(self) -> np.ndarray:
        width = np.asarray(self.high, np.float64) - np.asarray(self.low, np.float64)
        return np.diag(width**2 / 12)

    def params(self) -> dict:
        return {"low": np.asarray(self.low).tolist(), "high": np.asarray(self.high).tolist()}

    def initialize(self, x, seed: int = 0) -> Box:
        return self.fit_closed_form(x)

    def fit_closed_form(self, x) -> Box:
        """low_hat = per-axis minimum, high_hat = per-axis maximum of the points."""
        self.check_mle_exists(x)
        self.low.assign(x.min(axis=0))
        self.high.assign(x.max(axis=0))
        return self


class GaussianMixture(Gaussian):
    """K Gaussians with weights: p(x) = sum_k w_k N(x; mu_k, Sigma_k), sum_k w_k = 1.

    The weights come from K unconstrained ``logits`` through a softmax. In log
    space the sum becomes log p(x) = logsumexp_k(log w_k + log N(x; mu_k, Sigma_k)):
    ``logsumexp`` subtracts the largest term first, so densities of 1e-300 do not
    underflow to log(0) = -inf.

    There is no closed form; the classic fit is the EM algorithm (scikit-learn's
    ``GaussianMixture``). Here the same likelihood is maximised by gradient
    descent, which is how every deep generative model is trained.
    """

    family = "gmm"

    def __init__(self, dim: int, components: int = 3, **kwargs):
        if isinstance(components, bool) or int(components) != components or components < 1:
            raise ValueError(f"components (K) must be a whole number, 1 or more; got {components}")
        self.components = int(components)
        super().__init__(dim, **kwargs)  # the Gaussian's parameters, one set per component

    def _parameters(self, d: int, k: tuple = ()) -> None:
        super()._parameters(d, (self.components,))
        self.logits = _weight(self, "logits", (self.components,))

    @property
    def mixture_weights(self):
        """w_k (``weights`` is Keras's name for all of a model's variables)."""
        return tf.nn.softmax(self.logits)

    def log_prob(self, x):
        log_w = tf.nn.log_softmax(self.logits)
        return tf.reduce_logsumexp(log_w + _gaussian_log_prob(x, self.loc, self.scale_tril), -1)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Pick a component k with probability w_k, then draw from N(mu_k, Sigma_k)."""
        logits = tf.convert_to_tensor(self.logits)[None]
        which = tf.random.stateless_categorical(logits, int(n), seed=[int(seed), 1])[0]
        z = tf.random.stateless_normal([int(n), self.dim], seed=[int(seed), 0])
        scale = tf.gather(self.scale_tril, which)
        return (tf.gather(self.loc, which) + tf.linalg.matvec(scale, z)).numpy()

    def mean(self) -> np.ndarray:
        return np.asarray(self.mixture_weights, np.float64) @ np.asarray(self.loc, np.float64)

    def covariance(self) -> np.ndarray:
        """Law of total variance: sum_k w_k (Sigma_k + mu_k mu_k^T) - mu mu^T."""
        w = np.asarray(self.mixture_weights, np.float64)
        mu = np.asarray(self.loc, np.float64)
        scale = np.asarray(self.scale_tril, np.float64)
        second = np.einsum("k,kij->ij", w, scale @ np.swapaxes(scale, 1, 2))
        second += np.einsum("k,ki,kj->ij", w, mu, mu)
        return second - np.outer(w @ mu, w @ mu)

    def params(self) -> dict:
        scale = np.asarray(self.scale_tril)
        return {
            "weights": np.asarray(self.mixture_weights).tolist(),
            "loc": np.asarray(self.loc).tolist(),
            "scale_tril": scale.tolist(),
            "covariance": (scale.astype(np.float64) @ np.swapaxes(scale, 1, 2)).tolist(),
        }

    def fit_closed_form(self, x):
        return Density.fit_closed_form(self, x)  # a mixture has no formula

    def check_mle_exists(self, x: np.ndarray) -> None:
        """Also: more distinct points than components (a component on a point of its
        own has a likelihood without limit), and what a Gaussian needs."""
        if len(x) < self.components:
            raise ValueError(
                f"{len(x)} points cannot fit {self.components} components; "
                "use fewer components or more data"
            )
        super().check_mle_exists(x)
        distinct = len(np.unique(x, axis=0))
        if distinct <= self.components:
            raise ValueError(
                f"{distinct} distinct point(s) for {self.components} components: a component "
                "on a point of its own has a likelihood without limit; use fewer components"
            )

    def initialize(self, x, seed: int = 0) -> GaussianMixture:
        """Start from a quick k-means (at most 10 000 points): each cluster's share,
        mean and spread become w_k, mu_k, Sigma_k. A mixture's likelihood has many
        local maxima (two bells sharing one blob, another blob with none); a
        sensible start avoids most of them.
        """
        self.check_mle_exists(x)
        self._set_scale(x)
        z = (x - np.asarray(self.shift)) / np.asarray(self.spread)  # in units of the spread
        weights, centres, covariances = mixture_start(z, self.components, seed)
        chol = np.linalg.cholesky(covariances)  # Sigma_k = L_k L_k^T
        diagonal = _softplus_inverse(np.diagonal(chol, axis1=1, axis2=2))  # (K, D)
        tril = np.tril(chol, -1) + diagonal[:, :, None] * np.eye(self.dim)
        self.logits.assign(np.log(weights))
        self.loc_raw.assign(centres)
        self.tril_raw.assign(tril)
        return self


FAMILIES = {"gaussian": Gaussian, "box": Box, "gmm": GaussianMixture}


def make_model(family: str, dim: int, components: int = 3) -> Density:
    """Build an (uninitialised) model of the named family."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model {family!r}; choose one of {', '.join(FAMILIES)}")
    if family == "gmm":
        return GaussianMixture(dim, components)
    return FAMILIES[family](dim)
