"""Training state is never lost silently: damaged checkpoints, stale files, unwritable outputs."""

import contextlib
import io
import json
import shutil
import signal

import numpy as np
import pytest

from test_fit_cli import fit

# Checkpoints at steps 20 and 40 (two are kept).
FIT = ["--model", "gaussian", "--n", "300", "--lr", "0.05", "--checkpoint-every", "20", "--json"]


@pytest.fixture(scope="module")
def fitted_once(tmp_path_factory):
    """The checkpoints of a 40-step fit, made once: ckpt-20 and ckpt-40."""
    directory = tmp_path_factory.mktemp("fitted") / "ck"
    quietly("--steps", "40", "--checkpoint-dir", str(directory))
    assert (directory / "ckpt-20.index").exists() and (directory / "ckpt-40.index").exists()
    return directory


@pytest.fixture
def checkpoints(tmp_path, fitted_once):
    """A copy of those checkpoints for one test to damage (a copy resumes as the original)."""
    return shutil.copytree(fitted_once, tmp_path / "ck")


@pytest.fixture(scope="module")
def uninterrupted():
    """The same fit to step 60 in one go: what every resumed fit below must end with."""
    return json.loads(quietly("--steps", "60"))


def quietly(*args: str) -> str:
    """``fit`` with FIT and ``args`` in this process (for module fixtures): its stdout."""
    from {{ cookiecutter.package }}.cli import main

    with (
        contextlib.redirect_stdout(io.StringIO()) as out,
        contextlib.redirect_stderr(io.StringIO()),
    ):
        assert main(["fit", "--no-progress", *FIT, *args]) == 0
    return out.getvalue()


def resume(capsys, directory, uninterrupted, from_step):
    """Continue to step 60; it must resume from ``from_step`` and end as if never stopped."""
    code, out, err = fit(capsys, *FIT, "--steps", "60", "--checkpoint-dir", str(directory))
    assert code == 0, err
    report = json.loads(out)
    assert report["resumed_from_step"] == from_step
    for name, value in uninterrupted["params"].items():
        np.testing.assert_allclose(report["params"][name], value, rtol=1e-5, atol=1e-6)
    return err


def test_missing_index_falls_back_to_the_older_checkpoint(checkpoints, capsys, uninterrupted):
    (checkpoints / "ckpt-40.index").unlink()
    err = resume(capsys, checkpoints, uninterrupted, from_step=20)
    assert "ckpt-40 (its .index file is missing)" in err and "resuming from ckpt-20" in err


@pytest.mark.parametrize("how", ["truncated", "garbled"])
def test_damaged_data_falls_back_to_the_older_checkpoint(checkpoints, capsys, uninterrupted, how):
    data = next(checkpoints.glob("ckpt-40.data-*"))
    content = bytearray(data.read_bytes())
    if how == "truncated":
        content = content[: len(content) // 2]
    else:
        content[len(content) // 2 :] = bytes(len(content) - len(content) // 2)  # zeros
    data.write_bytes(bytes(content))
    err = resume(capsys, checkpoints, uninterrupted, from_step=20)
    assert "ckpt-40 (it cannot be read" in err and "resuming from ckpt-20" in err


def test_damaged_checkpoint_list_is_not_trusted(checkpoints, capsys, uninterrupted):
    state = checkpoints / "checkpoint"
    state.write_text(state.read_text()[: len(state.read_text()) // 2])
    resume(capsys, checkpoints, uninterrupted, from_step=40)


def test_stale_temporary_directories_are_removed(checkpoints, capsys, uninterrupted):
    stale = checkpoints / "ckpt-35_temp"  # what a kill in the middle of a save leaves
    stale.mkdir()
    resume(capsys, checkpoints, uninterrupted, from_step=40)
    assert not stale.exists()


def test_damaged_settings_file_is_named(checkpoints, capsys):
    settings = checkpoints / "fit-settings.json"
    settings.write_text('{"model": "gau')
    code, out, err = fit(capsys, *FIT, "--steps", "60", "--checkpoint-dir", str(checkpoints))
    assert code == 2 and out == ""
    assert f"{settings} is damaged" in err
    assert (checkpoints / "ckpt-40.index").exists()  # nothing lost


def test_a_fresh_start_rewrites_a_half_written_settings_file(tmp_path, capsys):
    """A kill while the settings were written, before any checkpoint: nothing to lose."""
    directory = tmp_path / "ck"
    directory.mkdir()
    (directory / "fit-settings.json").write_text('{"model": "gau')
    code, _, err = fit(capsys, *FIT, "--steps", "20", "--checkpoint-dir", str(directory))
    assert code == 0, err
    assert json.loads((directory / "fit-settings.json").read_text())["model"] == "Gaussian"


def test_a_worker_does_not_read_the_settings_the_chief_is_writing(tmp_path):
    """Workers start together; on a fresh directory only the chief touches the settings."""
    import keras

    from {{ cookiecutter.package }} import mle
    from {{ cookiecutter.package }}.trainer.checkpoints import Checkpoints, tf

    directory = tmp_path / "ck"
    directory.mkdir()
    half = '{"model": "gau'
    (directory / "fit-settings.json").write_text(half)  # the chief, caught mid-write
    model = mle.Gaussian(2)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    parts = {"model": model, "optimizer": model.optimizer, "step": step}
    saver = Checkpoints(directory, 10, {"model": "Gaussian"}, objects=parts, is_chief=False)
    for number in (10, 20):
        step.assign(number)
        saver.save(number)
    assert (directory / "fit-settings.json").read_text() == half  # neither read nor written
    assert not list(directory.glob("ckpt-*"))  # a worker's own saves go to a temporary dir


@pytest.mark.parametrize("option", ["--checkpoint-dir", "--logdir", "--plot"])
@pytest.mark.parametrize("where", ["under a file", "not writable"])
def test_unwritable_outputs_are_refused_before_the_fit(tmp_path, capsys, option, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # /proc refuses new directories even to root, so this works for every user.
    parent = blocker if where == "under a file" else tmp_path / "/proc/no-such-dir"
    path = parent / ("fit.png" if option == "--plot" else "out")
    code, out, err = fit(capsys, "--model", "gmm", "--steps", "100000", option, str(path))
    assert code == 2 and out == ""
    assert f"error: {option}" in err
    assert "step" not in err  # refused before the first step


@pytest.mark.slow
def test_a_folder_in_use_by_a_running_fit_is_refused(tmp_path, capsys):
    """Two real processes: the second fit on the same folder is refused, the first runs on."""
    import subprocess
    import sys
    import time

    directory = tmp_path / "ck"
    command = [
        sys.executable,
        "-m",
        "{{ cookiecutter.package }}",
        "fit",
        *FIT,
        "--no-progress",
    ]
    first = subprocess.Popen(
        [*command, "--steps", "100000000", "--checkpoint-dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not list(directory.glob("ckpt-*.index")) and first.poll() is None:
            time.sleep(0.05)
        code, out, err = fit(
            capsys, *FIT, "--steps", "100000000", "--checkpoint-dir", str(directory)
        )
        assert code == 2 and out == ""
        assert f"the checkpoint folder {directory} is in use by another running fit" in err
        assert first.poll() is None  # untouched
    finally:
        first.send_signal(signal.SIGTERM)
        _, first_err = first.communicate()
    assert first.returncode == 75, first_err


@pytest.mark.slow
def test_two_checkpoints_are_kept_across_restarts(tmp_path, capsys):
    directory = tmp_path / "ck"
    for steps in ("40", "80", "100"):
        code, _, err = fit(capsys, *FIT, "--steps", steps, "--checkpoint-dir", str(directory))
        assert code == 0, err
    assert sorted(p.name for p in directory.glob("ckpt-*.index")) == [
        "ckpt-100.index",
        "ckpt-80.index",
    ]


@pytest.mark.parametrize(
    ("content", "why"),
    [("[]", "it holds list"), ('"a string"', "it holds str"), ("123", "it holds int"), (None, "")],
)
def test_a_damaged_settings_file_gets_a_message(checkpoints, capsys, content, why):
    settings = checkpoints / "fit-settings.json"
    if content is None:  # a directory in its place
        settings.unlink()
        settings.mkdir()
    else:
        settings.write_text(content)
    code, out, err = fit(capsys, *FIT, "--steps", "60", "--checkpoint-dir", str(checkpoints))
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"error: {settings} is damaged ({why}" in err
    assert (checkpoints / "ckpt-40.index").exists()  # nothing lost


def test_a_missing_settings_file_is_named_not_every_field(checkpoints, capsys):
    (checkpoints / "fit-settings.json").unlink()
    code, _, err = fit(capsys, *FIT, "--steps", "60", "--checkpoint-dir", str(checkpoints))
    assert code == 2 and "differs in" not in err
    assert f"{checkpoints} holds checkpoints but no fit-settings.json" in err


def test_a_directory_named_checkpoint_gets_a_message(checkpoints, capsys):
    state = checkpoints / "checkpoint"
    state.unlink()
    state.mkdir()
    code, _, err = fit(capsys, *FIT, "--steps", "60", "--checkpoint-dir", str(checkpoints))
    assert code == 2 and "Traceback" not in err
    assert f"error: {state} is a directory" in err
