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
``fit_closed_form`` where a formula exists; ``training.fit`` fits any of them):

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
from .data import check_points

tf = import_tensorflow()

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


class Density(tf.Module):
    """What every family offers. Subclasses define ``log_prob``, ``sample``, ``mean``,
    ``covariance`` and ``params``; ``fit`` is gradient descent on the NLL.

    Variables are created in ``__init__`` (shapes only) and given values by
    ``initialize(x)``, so a model can be built under a ``tf.distribute`` strategy's
    ``scope()`` and trained by the same loop on one or many devices.
    """

    family = "density"
    #: True when gradient descent can fit this family (the box cannot; see ``Box``).
    trainable = True

    def __init__(self, dim: int, name: str | None = None):
        super().__init__(name=name)
        if int(dim) < 1:
            raise ValueError(f"dimension must be 1 or more, got {dim}")
        self.dim = int(dim)

    # -- the interface ------------------------------------------------------------
    def log_prob(self, x):
        """log p_theta(x) for each row of x: a tensor of shape (N,)."""
        raise NotImplementedError

    def nll(self, x) -> float:
        """Mean negative log-likelihood per point, -1/N sum_i log p_theta(x_i), in nats."""
        x = self._points(x)
        return float(-tf.reduce_mean(tf.cast(self.log_prob(x), tf.float64)))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Draw ``n`` new points from p_theta; the same seed gives the same points."""
        raise NotImplementedError

    def mean(self) -> np.ndarray:
        raise NotImplementedError

    def covariance(self) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict:
        """The fitted parameters as plain Python lists (ready for JSON)."""
        raise NotImplementedError

    def initialize(self, x, seed: int = 0) -> Density:
        """Give the parameters starting values suited to the data's location and scale."""
        raise NotImplementedError

    def fit_closed_form(self, x) -> Density:
        """Set the parameters to the MLE by a formula, where one exists.

        (Gradient descent is ``training.fit(model, x)``, for every family.)
        """
        raise NotImplementedError(
            f"the {self.family} has no closed-form maximum likelihood estimate; "
            "use training.fit(model, x)"
        )

    # -- helpers --------------------------------------------------------------------
    def _array(self, x, name: str = "x") -> np.ndarray:
        """``x`` checked (see ``data.check_points``) and matched to the model's dimension."""
        array = check_points(x, name)
        if array.shape[1] != self.dim:
            raise ValueError(
                f"{name}: points have {array.shape[1]} coordinates, the model has {self.dim}"
            )
        return array

    def _points(self, x, name: str = "x"):
        return x if isinstance(x, tf.Tensor) else tf.constant(self._array(x, name))

    def _set_scale(self, x: np.ndarray) -> None:
        """Remember the data's centre and spread (not trained).

        Parameters are learned *in units of the data's spread*: a step of 0.01 moves
        a mean by 1% of the data's width whether the data are in metres or in
        kilometres, so one learning rate works for any data set (preconditioning).
        """
        spread = x.std(axis=0)
        spread = np.where(spread > 0, spread, 1.0)
        self.shift.assign(x.mean(axis=0))
        self.spread.assign(spread)


class Gaussian(Density):
    """A Gaussian with full covariance: p(x) = N(x; mu, Sigma), Sigma = L L^T.

    Parameters: the mean ``loc`` (D numbers) and the Cholesky factor ``scale_tril``
    (lower-triangular, positive diagonal). The MLE has a closed form -- the sample
    mean and the *biased* sample covariance (divide by N, not N - 1) -- so this
    family is the check that gradient descent finds the maximum of the likelihood.
    """

    family = "gaussian"

    def __init__(self, dim: int, name: str | None = None):
        super().__init__(dim, name)
        d = self.dim
        self.shift = tf.Variable(tf.zeros([d]), trainable=False, name="shift")
        self.spread = tf.Variable(tf.ones([d]), trainable=False, name="spread")
        self.loc_raw = tf.Variable(tf.zeros([d]), name="loc_raw")
        self.tril_raw = tf.Variable(tf.eye(d) * float(_softplus_inverse(1.0)), name="tril_raw")

    @property
    def loc(self):
        return self.shift + self.spread * self.loc_raw

    @property
    def scale_tril(self):
        return self.spread[:, None] * _tril(self.tril_raw)

    def log_prob(self, x):
        x = self._points(x)
        return _gaussian_log_prob(x, self.loc[None], self.scale_tril[None])[:, 0]

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        z = tf.random.stateless_normal([int(n), self.dim], seed=[int(seed), 0])
        return (self.loc + tf.linalg.matvec(self.scale_tril, z)).numpy()

    def mean(self) -> np.ndarray:
        return self.loc.numpy()

    def covariance(self) -> np.ndarray:
        scale = self.scale_tril.numpy().astype(np.float64)
        return scale @ scale.T

    def params(self) -> dict:
        return {
            "loc": self.loc.numpy().tolist(),
            "scale_tril": self.scale_tril.numpy().tolist(),
            "covariance": self.covariance().tolist(),
        }

    def initialize(self, x, seed: int = 0) -> Gaussian:
        """Start at a randomly chosen data point, round, as wide as the data."""
        x = self._array(x)
        if len(x) <= self.dim:
            raise ValueError(
                f"{len(x)} point(s) in {self.dim}-D: a Gaussian needs more points than "
                "dimensions (with fewer, the likelihood grows without limit as it shrinks)"
            )
        self._set_scale(x)
        start = x[np.random.default_rng(seed).integers(len(x))]
        self.loc_raw.assign((start - self.shift.numpy()) / self.spread.numpy())
        self.tril_raw.assign(tf.eye(self.dim) * float(_softplus_inverse(1.0)))
        return self

    def fit_closed_form(self, x) -> Gaussian:
        """mu_hat = mean of the points, Sigma_hat = 1/N sum_i (x_i - mu)(x_i - mu)^T.

        Setting the gradient of the log-likelihood to zero gives these formulas.
        """
        x = self._array(x).astype(np.float64)
        self._set_scale(x)
        mu = x.mean(axis=0)
        centred = x - mu
        cov = centred.T @ centred / len(x)
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError(
                "the points' covariance is singular (fewer points than dimensions, or the "
                "points lie on a line or plane): no Gaussian density fits them"
            ) from None
        spread = self.spread.numpy().astype(np.float64)
        self.loc_raw.assign((mu - self.shift.numpy()) / spread)
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

    Why the box can beat a Gaussian (world map: NLL about 10.3 against 10.6): the
    NLL rewards putting density where the points are. The land fills much of its
    bounding box, evenly, while a Gaussian spends density on a bell shape the
    data do not have, and on the sea around it. But one new point outside the
    box has log p = -inf: the box cannot generalise beyond what it has seen, and
    on data shaped like a bell it loses to the Gaussian everywhere.

    Gradient descent cannot find it: the NLL is infinite once a point is outside,
    and inside its gradient only says "shrink". So ``training.fit`` uses the formula.
    """

    family = "box"
    trainable = False

    def __init__(self, dim: int, name: str | None = None):
        super().__init__(dim, name)
        self.low = tf.Variable(tf.zeros([self.dim]), trainable=False, name="low")
        self.high = tf.Variable(tf.ones([self.dim]), trainable=False, name="high")

    def log_prob(self, x):
        x = self._points(x)
        inside = tf.reduce_all((x >= self.low) & (x <= self.high), axis=-1)
        log_density = -tf.reduce_sum(tf.math.log(self.high - self.low))
        # tf.where, not a multiplication by 0/1: 0 * inf would be NaN.
        return tf.where(inside, log_density, tf.constant(-np.inf, x.dtype))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        u = tf.random.stateless_uniform([int(n), self.dim], seed=[int(seed), 0])
        return (self.low + (self.high - self.low) * u).numpy()

    def mean(self) -> np.ndarray:
        return ((self.low + self.high) / 2).numpy()

    def covariance(self) -> np.ndarray:
        width = (self.high - self.low).numpy().astype(np.float64)
        return np.diag(width**2 / 12)

    def params(self) -> dict:
        return {"low": self.low.numpy().tolist(), "high": self.high.numpy().tolist()}

    def initialize(self, x, seed: int = 0) -> Box:
        return self.fit_closed_form(x)

    def fit_closed_form(self, x) -> Box:
        """low_hat = per-axis minimum, high_hat = per-axis maximum of the points."""
        x = self._array(x)
        low, high = x.min(axis=0), x.max(axis=0)
        flat = np.flatnonzero(high <= low)
        if flat.size:
            raise ValueError(
                f"every point has the same value on axis {int(flat[0])} ({low[flat[0]]}): "
                "a box of width 0 has no density (1 / volume is infinite)"
            )
        self.low.assign(low)
        self.high.assign(high)
        return self


class GaussianMixture(Density):
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

    def __init__(self, dim: int, components: int = 3, name: str | None = None):
        super().__init__(dim, name)
        if isinstance(components, bool) or int(components) != components or components < 1:
            raise ValueError(f"components (K) must be a whole number, 1 or more; got {components}")
        k, d = int(components), self.dim
        self.components = k
        self.shift = tf.Variable(tf.zeros([d]), trainable=False, name="shift")
        self.spread = tf.Variable(tf.ones([d]), trainable=False, name="spread")
        self.logits = tf.Variable(tf.zeros([k]), name="logits")
        self.loc_raw = tf.Variable(tf.zeros([k, d]), name="loc_raw")
        self.tril_raw = tf.Variable(
            tf.eye(d, batch_shape=[k]) * float(_softplus_inverse(1.0)), name="tril_raw"
        )

    @property
    def weights(self):
        return tf.nn.softmax(self.logits)

    @property
    def loc(self):
        return self.shift + self.spread * self.loc_raw

    @property
    def scale_tril(self):
        return self.spread[:, None] * _tril(self.tril_raw)

    def log_prob(self, x):
        x = self._points(x)
        log_w = tf.nn.log_softmax(self.logits)
        return tf.reduce_logsumexp(log_w + _gaussian_log_prob(x, self.loc, self.scale_tril), -1)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Pick a component k with probability w_k, then draw from N(mu_k, Sigma_k)."""
        which = tf.random.stateless_categorical(self.logits[None], int(n), seed=[int(seed), 1])[0]
        z = tf.random.stateless_normal([int(n), self.dim], seed=[int(seed), 0])
        scale = tf.gather(self.scale_tril, which)
        return (tf.gather(self.loc, which) + tf.linalg.matvec(scale, z)).numpy()

    def mean(self) -> np.ndarray:
        w = self.weights.numpy().astype(np.float64)
        return w @ self.loc.numpy().astype(np.float64)

    def covariance(self) -> np.ndarray:
        """Law of total variance: sum_k w_k (Sigma_k + mu_k mu_k^T) - mu mu^T."""
        w = self.weights.numpy().astype(np.float64)
        mu = self.loc.numpy().astype(np.float64)
        scale = self.scale_tril.numpy().astype(np.float64)
        second = np.einsum("k,kij->ij", w, scale @ np.swapaxes(scale, 1, 2))
        second += np.einsum("k,ki,kj->ij", w, mu, mu)
        m = w @ mu
        return second - np.outer(m, m)

    def params(self) -> dict:
        scale = self.scale_tril.numpy()
        return {
            "weights": self.weights.numpy().tolist(),
            "loc": self.loc.numpy().tolist(),
            "scale_tril": scale.tolist(),
            "covariance": (scale.astype(np.float64) @ np.swapaxes(scale, 1, 2)).tolist(),
        }

    def initialize(self, x, seed: int = 0) -> GaussianMixture:
        """Start from a quick k-means (k-means++ seeding, a few Lloyd steps, at most
        10 000 points): each cluster's share, mean and spread become w_k, mu_k, Sigma_k.

        A mixture's likelihood has many local maxima (two bells sharing one blob,
        another blob with none); a sensible start avoids most of them. scikit-learn
        starts its EM from k-means too.
        """
        x = self._array(x)
        if len(x) < self.components:
            raise ValueError(
                f"{len(x)} point(s) cannot start {self.components} components; "
                "use fewer components or more data"
            )
        self._set_scale(x)
        rng = np.random.default_rng(seed)
        z = (x - self.shift.numpy()) / self.spread.numpy()
        if len(z) > 10_000:
            z = z[rng.choice(len(z), 10_000, replace=False)]
        centres = _kmeans(z, self.components, rng)
        labels = _nearest(z, centres)
        weights, tril = np.empty(self.components), np.empty((self.components, self.dim, self.dim))
        for k in range(self.components):
            members = z[labels == k]
            weights[k] = max(len(members), 1) / len(z)
            cov = np.eye(self.dim) * 0.1
            if len(members) > self.dim:
                cov = np.cov(members.T, bias=True).reshape(self.dim, self.dim) + cov * 1e-2
            chol = np.linalg.cholesky(cov)
            tril[k] = np.tril(chol, -1) + np.diag(_softplus_inverse(np.diag(chol)))
        self.logits.assign(np.log(weights))
        self.loc_raw.assign(centres)
        self.tril_raw.assign(tril)
        return self


def _nearest(z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    distances = ((z[:, None, :] - centres[None]) ** 2).sum(-1)
    return distances.argmin(axis=1)


def _kmeans(z: np.ndarray, k: int, rng: np.random.Generator, rounds: int = 10) -> np.ndarray:
    """k-means++ seeding (each new centre far from the others) and a few Lloyd steps."""
    centres = [z[rng.integers(len(z))]]
    for _ in range(1, k):
        d2 = ((z[:, None, :] - np.array(centres)[None]) ** 2).sum(-1).min(axis=1)
        total = d2.sum()
        p = d2 / total if total > 0 else None
        centres.append(z[rng.choice(len(z), p=p)])
    centres = np.array(centres)
    for _ in range(rounds):
        labels = _nearest(z, centres)
        for j in range(k):
            members = z[labels == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    return centres


FAMILIES = {"gaussian": Gaussian, "box": Box, "gmm": GaussianMixture}


def make_model(family: str, dim: int, components: int = 3) -> Density:
    """Build an (uninitialised) model of the named family."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model {family!r}; choose one of {', '.join(FAMILIES)}")
    if family == "gmm":
        return GaussianMixture(dim, components)
    return FAMILIES[family](dim)
