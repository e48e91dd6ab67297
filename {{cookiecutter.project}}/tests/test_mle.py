"""The densities: their maximum likelihood fits, their normalisation, their samples."""

import json

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SklearnMixture

from {{ cookiecutter.package }} import fit, mle, trainer
from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.data import world_map
from {{ cookiecutter.package }}.points import check_points

MEANS = np.array([[-3.0, 0.0], [2.0, 2.5], [2.5, -2.0]])
COVARIANCES = np.array(
    [[[1.0, 0.3], [0.3, 0.5]], [[0.6, -0.2], [-0.2, 0.8]], [[0.4, 0.0], [0.0, 1.2]]]
)
WEIGHTS = np.array([0.5, 0.3, 0.2])


def mixture_points(n, seed=1):
    """Points from a known 3-component mixture."""
    rng = np.random.default_rng(seed)
    which = rng.choice(len(WEIGHTS), size=n, p=WEIGHTS)
    noise = rng.standard_normal((n, 2))
    points = MEANS[which] + np.einsum("nij,nj->ni", np.linalg.cholesky(COVARIANCES)[which], noise)
    return points.astype(np.float32)


def train(model, x, steps, learning_rate=0.05, batch_size=None):
    """Gradient descent from the model's start, through the trainer; the NLL after."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    settings = trainer.Settings(steps=steps, batch_size=batch_size, progress=False)
    trainer.fit(lambda: model, x, settings)
    return model.nll(x)


@pytest.fixture(scope="module")
def gaussian_points():
    rng = np.random.default_rng(0)
    return rng.multivariate_normal([1.0, -2.0], [[2.0, 0.8], [0.8, 1.0]], size=10_000).astype(
        np.float32
    )


def test_gaussian_gradient_descent_matches_closed_form(gaussian_points):
    x = gaussian_points
    exact = mle.Gaussian(2).fit_closed_form(x)
    np.testing.assert_allclose(exact.mean(), x.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(exact.covariance(), np.cov(x.T, bias=True), atol=1e-4)

    model = mle.Gaussian(2).initialize(x, seed=0)
    assert np.abs(model.mean() - exact.mean()).max() > 0.1, "the start must not be the answer"
    nll = train(model, x, steps=300, learning_rate=0.05)
    np.testing.assert_allclose(model.mean(), exact.mean(), atol=1e-3)
    np.testing.assert_allclose(model.covariance(), exact.covariance(), atol=1e-3)
    assert nll == pytest.approx(exact.nll(x), abs=1e-5)


def test_box_closed_form_is_the_bounding_box():
    x = world_map(500, seed=3)
    box = mle.Box(2).fit_closed_form(x)
    np.testing.assert_array_equal(box.params()["low"], x.min(axis=0))  # the report's numbers
    np.testing.assert_array_equal(box.high.numpy(), x.max(axis=0))
    assert np.isfinite(box.log_prob(x).numpy()).all()
    width = x.max(axis=0) - x.min(axis=0)
    assert box.nll(x) == pytest.approx(np.log(width).sum(), rel=1e-6)
    outside = np.array([x.min(axis=0) - 1, x.max(axis=0) + 1, [x.min(axis=0)[0] - 1e-3, 0.0]])
    log_p = box.log_prob(outside).numpy()
    assert np.isneginf(log_p).all(), log_p  # -inf, not NaN


def test_box_fit_is_the_closed_form(capsys):
    x = world_map(300, seed=4)
    args = ["fit", "--model", "box", "--n", "300", "--seed", "4", "--steps", "10", "--json"]
    assert main([*args, "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "closed form" and report["steps"] == 0
    assert report["params"]["low"] == x.min(axis=0).tolist()


def test_gmm_matches_scikit_learn_and_recovers_the_means():
    x = mixture_points(3000)
    reference = SklearnMixture(3, n_init=3, random_state=0).fit(x)
    reference_nll = -reference.score(x)

    model = mle.GaussianMixture(2, components=3).initialize(x, seed=0)
    start_nll = model.nll(x)
    nll = train(model, x, steps=150, learning_rate=0.05)
    assert nll <= reference_nll + 0.01
    assert nll < start_nll - 1e-3, "gradient descent, not the k-means start, did the fit"

    fitted = np.array(model.params()["loc"])
    nearest = np.argmin(((fitted[:, None] - MEANS[None]) ** 2).sum(-1), axis=1)
    assert sorted(nearest) == [0, 1, 2], f"not one component per true mean: {fitted}"
    np.testing.assert_allclose(fitted, MEANS[nearest], atol=0.1)
    np.testing.assert_allclose(model.mixture_weights.numpy(), WEIGHTS[nearest], atol=0.03)


def fitted(family):
    """A fitted model of each family, on data it suits."""
    if family == "box":
        return mle.Box(2).fit_closed_form(world_map(500, seed=5))
    if family == "gaussian":
        return mle.Gaussian(2).fit_closed_form(mixture_points(2000))
    x = mixture_points(2000)
    model = mle.GaussianMixture(2, components=3).initialize(x)
    train(model, x, steps=30)
    return model


@pytest.fixture(scope="module", params=["gaussian", "box", "gmm"])
def model(request):
    return fitted(request.param)


def test_density_integrates_to_one(model):
    # A Riemann sum over a grid wide enough to hold all of the mass.
    mean, spread = model.mean(), np.sqrt(np.diag(model.covariance()))
    low, high = mean - 8 * spread, mean + 8 * spread
    xs, ys = (np.linspace(low[i], high[i], 801) for i in range(2))
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    density = np.exp(model.log_prob(grid).numpy().astype(np.float64))
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    tolerance = 1e-2 if model.family == "box" else 1e-3  # the box's edges cut grid cells
    assert density.sum() * cell == pytest.approx(1.0, abs=tolerance)


def test_samples_have_the_models_moments(model):
    n = 40_000
    samples = model.sample(n, seed=7)
    assert samples.shape == (n, 2)
    spread = np.sqrt(np.diag(model.covariance()))
    # Sample means are within a few standard errors (spread / sqrt(n)) of the true mean.
    error = np.abs(samples.mean(axis=0) - model.mean())
    assert (error < 5 * spread / np.sqrt(n)).all(), error
    np.testing.assert_allclose(np.cov(samples.T), model.covariance(), atol=0.03 * spread.max() ** 2)
    np.testing.assert_array_equal(samples, model.sample(n, seed=7))  # same seed, same points
    assert not np.array_equal(samples, model.sample(n, seed=8))


def test_nll_is_mean_negative_log_prob(model):
    x = model.sample(100, seed=1)
    assert model.nll(x) == pytest.approx(-model.log_prob(x).numpy().mean(), rel=1e-5)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros(5), "expected an N x D array"),
        (np.zeros((2, 2, 2)), "expected an N x D array"),
        (np.zeros((0, 2)), "no points"),
        (np.array([[0.0, 1.0], [np.nan, 2.0]]), "NaN or infinity, first at row 1, column 0"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), "NaN or infinity, first at row 0, column 1"),
        ([["a", "b"]], "cannot read as numbers"),
        (np.zeros((4, 3)), "points have 3 coordinates, the model has 2"),
    ],
)
@pytest.mark.parametrize("family", ["gaussian", "box", "gmm"])
def test_bad_points_are_refused(family, points, message):
    """Checked once, at the edge (``check_points``), then by the family (its dimension)."""
    model = fit.make_model(family, 2, 2)
    with pytest.raises(ValueError, match=message):
        model.check_mle_exists(check_points(points))
    with pytest.raises(ValueError, match=message.split(",")[0]):
        model.initialize(check_points(points))


@pytest.mark.parametrize("components", [0, -1, 1.5, True])
def test_components_must_be_a_positive_whole_number(components):
    with pytest.raises(ValueError, match="components"):
        mle.GaussianMixture(2, components=components)


@pytest.mark.parametrize("learning_rate", [0.0, -0.1, float("nan")])
def test_bad_learning_rate_is_refused(learning_rate):
    with pytest.raises(ValueError, match="learning rate"):
        fit.density_builder("gaussian", mixture_points(100), 3, learning_rate, seed=0)


@pytest.mark.parametrize(
    ("options", "message"), [({"steps": -1}, "steps"), ({"batch_size": 0}, "batch size")]
)
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        trainer.Settings(**options)


def test_degenerate_data_get_a_clear_error():
    line = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="same value on axis 1"):
        mle.Box(2).fit_closed_form(line)
    with pytest.raises(ValueError, match="singular"):
        mle.Gaussian(2).fit_closed_form(line)
    with pytest.raises(ValueError, match="needs more points than dimensions"):
        mle.Gaussian(2).initialize(line[:2])
    with pytest.raises(ValueError, match="2 points cannot fit 3 components"):
        mle.GaussianMixture(2, 3).initialize(line[:2])


def test_minibatch_fit_reaches_the_full_batch_fit():
    x = mixture_points(4000)
    full_nll = train(mle.GaussianMixture(2, 3).initialize(x), x, steps=150)
    mini = mle.GaussianMixture(2, 3).initialize(x)
    assert train(mini, x, steps=400, learning_rate=0.01, batch_size=256) <= full_nll + 0.01
