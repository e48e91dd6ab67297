"""The image starter: its pieces, and a VAE that beats pixels without a latent code."""

import json
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package }}.vae import baseline, data
from {{ cookiecutter.package }}.vae.pictures import grid


def test_digits_are_black_and_white_and_held_out_apart():
    train, held_out = data.load_images("digits", seed=0)
    assert train.shape[1:] == held_out.shape[1:] == (8, 8)
    assert len(held_out) == data.HELD_OUT and len(train) + len(held_out) == 1797
    assert set(np.unique(train)) == {0.0, 1.0}
    rows = {image.tobytes() for image in held_out}
    assert sum(image.tobytes() in rows for image in train) < len(train) // 20  # few duplicates


def test_the_baseline_is_each_pixels_mle():
    images = np.array([[[1, 0]], [[1, 1]], [[1, 0]], [[0, 0]]], np.float32)
    p = baseline.independent_pixels(images)
    np.testing.assert_allclose(p, [[0.75, 0.25]])
    expected = -(np.log(0.75) + np.log(0.75)) * 3 / 4 - (np.log(0.25) + np.log(0.25)) / 4
    assert baseline.nll(p, images) == pytest.approx(expected)


def test_a_pixel_never_white_gets_no_zero_probability():
    p = baseline.independent_pixels(np.zeros((10, 2, 2), np.float32))
    assert np.isfinite(baseline.nll(p, np.ones((1, 2, 2), np.float32)))


def test_grid_places_each_image():
    images = np.stack([np.full((2, 3), value) for value in (0.0, 1.0, 0.25)])
    picture = grid(images, columns=2, gap=1)
    assert picture.shape == (2 * 3 + 1, 2 * 4 + 1)
    assert picture[1, 5] == 1.0 and picture[4, 1] == 0.25 and picture[0, 0] == 0.5


def test_one_step_is_deterministic_and_lowers_the_bound():
    import tensorflow as tf

    from {{ cookiecutter.package }}.vae.model import build_vae

    train, _ = data.load_images("digits")
    batch = tf.constant(train[:256])
    losses = []
    for _ in range(2):
        vae = build_vae((8, 8), latent_dim=2, learning_rate=1e-2, seed=3)
        losses.append([float(vae.train_step(batch)["loss"]) for _ in range(5)])
    assert losses[0] == losses[1]  # the same seed: the same start, the same noise
    assert losses[0][-1] < losses[0][0]


def test_a_missing_data_set_is_named():
    with pytest.raises(ValueError, match="unknown image data set 'cats'"):
        data.load_images("cats")


def test_a_job_whose_data_is_missing_stops_with_the_fetch_command(cli, tmp_path):
    folder = tmp_path / "data"
    done = cli("vae", "--dataset", "mnist", "--steps", "1", env={"PROJECT_DATA": str(folder)})
    assert done.returncode == 2
    assert f"PROJECT_DATA={folder} python -m " in done.stderr
    assert "fetch-data mnist" in done.stderr and "no internet" in done.stderr
    assert not folder.exists() or not any(folder.iterdir())


@pytest.mark.slow
def test_the_vae_beats_independent_pixels_on_held_out_digits(cli, tmp_path):
    """The acceptance test: held-out negative ELBO (an upper bound on the NLL) well below
    the NLL of the same coins without a latent code, on fixed seeds."""
    done = cli("vae", "--steps", "1500", "--json", "--no-progress", "--outdir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["negative_elbo"] < result["independent_pixels_nll"] - 3.0, result
    for path in result["pictures"].values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
