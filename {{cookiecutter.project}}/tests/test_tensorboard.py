"""``fit --logdir``: TensorBoard's own reader finds the NLL of every step, and a picture."""

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from test_fit_cli import fit


def read(logdir):
    """Every value TensorBoard would show: {tag: [(step, value), ...]}."""
    events = EventAccumulator(str(logdir), size_guidance={"tensors": 0})  # 0: keep them all
    events.Reload()
    return {
        tag: [(event.step, make_ndarray(event.tensor_proto)) for event in events.Tensors(tag)]
        for tag in events.Tags()["tensors"]
    }


def test_logdir_holds_the_nll_of_every_step_and_a_picture(tmp_path, capsys):
    logdir = tmp_path / "logs" / "tensorboard" / "gmm"
    # A Gaussian starts round, at one data point: far from the fit, so the NLL has far to fall.
    args = ["--model", "gaussian", "--n", "1000", "--steps", "200", "--lr", "0.05"]
    code, out, err = fit(capsys, *args, "--logdir", str(logdir))
    assert code == 0, err
    view = f"python -m {{ cookiecutter.package }} tensorboard --logdir {logdir}"
    assert f"logs    {logdir}  (view: {view})" in out  # said where, and the quiet command
    logged = read(logdir)

    steps, nll = zip(*logged["nll"], strict=True)
    assert list(steps) == list(range(1, 201))  # every step, once
    nll = np.array(nll, dtype=float)
    assert np.isfinite(nll).all()
    several = nll[[0, 24, 49, 99, 199]]  # steps 1, 25, 50, 100, 200
    assert (np.diff(several) < 0).all(), several  # gradient descent: the NLL falls

    [(step, image)] = logged["fit"]  # one picture, of the end
    assert step == 200
    width, height, png = image
    assert int(width) > 500 and int(height) > 200 and png.startswith(b"\x89PNG")
