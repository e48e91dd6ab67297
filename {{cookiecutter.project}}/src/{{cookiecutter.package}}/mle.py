"""Densities fitted by maximum likelihood: the "hello world" of generative modelling.

The lecture's framework, in code:

* A data set X = {x_1, ..., x_n} is drawn from an unknown distribution p_data.
* A *parametric model* is a family of densities p_theta(x), one per setting of theta.
* The *likelihood* L(theta | X) = p_theta(X) = prod_i p_theta(x_i) (independent
  points) is a function of the parameters: how likely the data are under theta.
* The *log-likelihood* sum_i log p_theta(x_i) turns the product into a sum: easier
  to differentiate, and it does not underflow to 0.
* The *maximum likelihood estimate* theta_hat = argmax_theta p_theta(X) minimises
  the negative log-likelihood (NLL): the loss a neural network is trained with.

Three families, one interface (``log_prob``, ``nll``, ``sample``, and
``fit_closed_form`` where a formula exists), each a ``keras.Model`` whose
``train_step`` is one step of gradient descent on the NLL: ``Gaussian`` (one bell),
``Box`` (uniform on a rectangle: the lecture's world map model) and
``GaussianMixture`` (K bells with learnable weights). How the parameters stay valid
while gradient descent moves them: ``parameters.py``.
"""

from __future__ import annotations

import math

import numpy as np

from ._tf import import_tensorflow
from .kmeans import mixture_start
from .parameters import columns, data_scale, raw_tril, softplus_inverse, tril, weight

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow, imported quietly)


def _gaussian_log_prob(x, loc, scale_tril):
    """log N(x; mu_k, Sigma_k) for points x (N, D) and K Gaussians at once: returns (N, K).

        log N(x; mu, L L^T) = -D/2 log(2 pi) - sum_i log L_ii - |z|^2 / 2,  L z = x - mu.

    A triangular solve, not an inverse: L is triangular, so z is found by substitution,
    row by row. (sum_i log L_ii is half of log det Sigma.)
    """
    d_log_2pi = loc.shape[-1] * math.log(2.0 * math.pi)  # D log(2 pi)
    difference = x[None, :, :] - loc[:, None, :]  # (K, N, D): every point minus every mean
    z = tf.linalg.triangular_solve(scale_tril, tf.linalg.matrix_transpose(difference))  # (K, D, N)
    log_det = tf.reduce_sum(tf.math.log(tf.linalg.diag_part(scale_tril)), axis=-1)  # (K,)
    log_n = -0.5 * tf.reduce_sum(tf.square(z), axis=-2) - log_det[:, None] - 0.5 * d_log_2pi
    return tf.transpose(log_n)  # (N, K)


class Density(keras.Model):
    """What every family offers: ``log_prob``, ``nll``, ``sample(n, seed)``, ``mean()``,
    ``covariance()``, ``params()``, ``check_mle_exists(x)`` and ``initialize(x, seed)``
    (the start that gradient descent improves on); ``train_step`` is the lesson's step.
    """

    family = "density"
    reported: tuple = ()  # what ``params()`` reports
    closed_form_only = False  # True: gradient descent cannot fit it (see ``Box``)
    flat_axis = "its width there shrinks to 0"  # why a flat axis has no MLE, in its terms

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(dim, bool) or int(dim) != dim or dim < 1:
            raise ValueError(f"dimension must be a whole number, 1 or more; got {dim}")
        self.dim = int(dim)
        self.built = True  # each family makes its variables in __init__: nothing left to build

    # -- the lesson: the NLL and one step of gradient descent ----------------------------
    def log_prob(self, x):
        """log p_theta(x) for each row of x: a tensor of shape (N,)."""
        raise NotImplementedError

    def call(self, x):
        return self.log_prob(x)

    def train_step(self, x):
        """One step of gradient descent: batch -> NLL (the loss) -> gradient -> optimizer
        step. A neural network is trained by the very same step; only ``log_prob`` is bigger."""
        with tf.GradientTape() as tape:  # records the computation, to differentiate it
            nll = -tf.reduce_mean(self.log_prob(x))  # mean NLL of the batch
        gradients = tape.gradient(nll, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        return {"nll": nll}  # of this batch, before the step

    def nll(self, x, chunk: int = 65536) -> float:
        """Mean negative log-likelihood per point, -1/N sum_i log p_theta(x_i), in nats
        (the mean, so data sets of different sizes compare)."""
        x = np.asarray(x, np.float32)
        total = sum(float(self._sum_log_prob(x[i : i + chunk])) for i in range(0, len(x), chunk))
        return -total / len(x)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])  # compiled once
    def _sum_log_prob(self, x):
        return tf.reduce_sum(tf.cast(self.log_prob(x), tf.float64))

    def params(self) -> dict:
        """The fitted parameters named in ``reported``, as lists (the fit command's report)."""
        values = {key: getattr(self, key) for key in self.reported}
        return {key: np.asarray(v() if callable(v) else v).tolist() for key, v in values.items()}

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
        low, high = columns(x).min(axis=1), columns(x).max(axis=1)  # per axis
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
        """Remember the data's centre and spread: parameters are learned in its units
        (``parameters.py`` says why)."""
        shift, spread = data_scale(x)
        self.shift.assign(shift)
        self.spread.assign(spread)


class Gaussian(Density):
    """A Gaussian with full covariance: p(x) = N(x; mu, Sigma), Sigma = L L^T, with the
    mean ``loc`` and the Cholesky factor ``scale_tril`` (lower-triangular, positive
    diagonal). The MLE has a closed form -- the sample mean and the *biased* sample
    covariance (divide by N, not N - 1) -- so this family checks that gradient descent
    finds the maximum of the likelihood.
    """

    family = "gaussian"
    reported = ("loc", "scale_tril", "covariance")
    flat_axis = "it flattens there (its covariance is singular)"

    def __init__(self, dim: int, **kwargs):
        super().__init__(dim, **kwargs)
        self._parameters(self.dim)

    def _parameters(self, d: int, k: tuple = ()) -> None:
        """mu and L (``k``: one of each per mixture component); the data's scale."""
        self.shift = weight(self, "shift", (d,), 0.0, trainable=False)
        self.spread = weight(self, "spread", (d,), 1.0, trainable=False)
        self.loc_raw = weight(self, "loc_raw", (*k, d))
        self.tril_raw = weight(self, "tril_raw", (*k, d, d), np.eye(d) * softplus_inverse(1.0))

    @property
    def loc(self):
        return self.shift + self.spread * self.loc_raw

    @property
    def scale_tril(self):
        return self.spread[:, None] * tril(self.tril_raw)

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

    def check_mle_exists(self, x: np.ndarray) -> None:
        """Also: more points than dimensions, not all on a line or plane."""
        if len(x) <= self.dim:
            raise ValueError(
                f"{len(x)} point(s) in {self.dim}-D: a {self.family} needs more points than "
                "dimensions (with fewer, the likelihood grows without limit as it shrinks)"
            )
        super().check_mle_exists(x)
        # The points' correlations: an eigenvalue near 0 means a flat direction.
        eigenvalues = np.linalg.eigvalsh(np.atleast_2d(np.corrcoef(columns(x))))
        if eigenvalues.min() <= 1e-10 * eigenvalues.max():
            raise ValueError(
                f"the points lie on a line or plane in {self.dim}-D (one column is a "
                "combination of the others, so their covariance is singular): no "
                f"maximum-likelihood {self.family} exists; drop a redundant column"
            )

    def _assign(self, z_loc, z_tril) -> None:
        """Set mu and L, given in units of the data's spread."""
        self.loc_raw.assign(z_loc)
        self.tril_raw.assign(raw_tril(z_tril))

    def initialize(self, x, seed: int = 0) -> Gaussian:
        """Start at a randomly chosen data point, round, as wide as the data."""
        self.check_mle_exists(x)
        self._set_scale(x)
        start = x[np.random.default_rng(seed).integers(len(x))]
        self._assign((start - np.asarray(self.shift)) / np.asarray(self.spread), np.eye(self.dim))
        return self

    def fit_closed_form(self, x) -> Gaussian:
        """mu_hat = mean of the points, Sigma_hat = 1/N sum_i (x_i - mu)(x_i - mu)^T: where
        the gradient of the log-likelihood is zero."""
        self.check_mle_exists(x)
        x = np.asarray(x, np.float64)
        self._set_scale(x)
        z = (x - np.asarray(self.shift, np.float64)) / np.asarray(self.spread, np.float64)
        mu = z.mean(axis=0)
        self._assign(mu, np.linalg.cholesky((z - mu).T @ (z - mu) / len(z)))
        return self


class Box(Density):
    """Uniform on a box [low_1, high_1] x ... x [low_D, high_D]: p(x) = 1 / volume
    inside, 0 outside (log p = -inf). The lecture's world map model.

    The likelihood is (1 / volume)^N while every point is inside and 0 once one is
    outside, so the MLE is the *smallest box containing every point*: the per-axis
    minimum and maximum. (On the world map it beats a Gaussian, and a new point
    outside it has log p = -inf: the notebook's section 3.) Gradient descent cannot
    find it -- outside the NLL is infinite, inside its gradient only says "shrink" --
    so the box is fitted by the formula.
    """

    family = "box"
    reported = ("low", "high")
    closed_form_only = True
    flat_axis = "its width there shrinks to 0 (1 / volume is infinite)"

    def __init__(self, dim: int, **kwargs):
        super().__init__(dim, **kwargs)
        self.low = weight(self, "low", (self.dim,), 0.0, trainable=False)
        self.high = weight(self, "high", (self.dim,), 1.0, trainable=False)

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

    The weights are a softmax of K unconstrained ``logits``. In log space the sum is
    log p(x) = logsumexp_k(log w_k + log N(x; mu_k, Sigma_k)); ``logsumexp`` subtracts
    the largest term first, so densities of 1e-300 do not underflow to log(0) = -inf.
    No closed form exists; the classic fit is EM (scikit-learn's ``GaussianMixture``).
    Here gradient descent maximises the same likelihood, as for every deep generative model.
    """

    family = "gmm"
    reported = ("mixture_weights", "loc", "scale_tril")

    def __init__(self, dim: int, components: int = 3, **kwargs):
        if isinstance(components, bool) or int(components) != components or components < 1:
            raise ValueError(f"components (K) must be a whole number, 1 or more; got {components}")
        self.components = int(components)
        super().__init__(dim, **kwargs)  # the Gaussian's parameters, one set per component

    def _parameters(self, d: int, k: tuple = ()) -> None:
        super()._parameters(d, (self.components,))
        self.logits = weight(self, "logits", (self.components,))

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
        distinct = len(np.unique(x[: 100 * self.components], axis=0))  # enough, nearly always
        if distinct <= self.components:
            distinct = len(np.unique(x, axis=0))
        if distinct <= self.components:
            raise ValueError(
                f"{distinct} distinct point(s) for {self.components} components: a component "
                "on a point of its own has a likelihood without limit; use fewer components"
            )

    def initialize(self, x, seed: int = 0) -> GaussianMixture:
        """Start from a quick k-means: each cluster's share, mean and spread become w_k,
        mu_k, Sigma_k. A mixture's likelihood has many local maxima (two bells sharing
        one blob, another blob with none); a sensible start avoids most of them."""
        self.check_mle_exists(x)
        self._set_scale(x)
        z = (x - np.asarray(self.shift)) / np.asarray(self.spread)  # in units of the spread
        weights, centres, covariances = mixture_start(z, self.components, seed)
        self.logits.assign(np.log(weights))
        self._assign(centres, np.linalg.cholesky(covariances))  # Sigma_k = L_k L_k^T
        return self
