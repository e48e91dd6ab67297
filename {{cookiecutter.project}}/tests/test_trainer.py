"""The trainer trains a keras.io-style model it was not written for, with every guarantee."""

import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from {{ cookiecutter.package }} import trainer

ROWS = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
DATA = (ROWS, ROWS @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32))


class NoisyRegression(keras.Model):
    """Written as keras.io writes models: its own train_step, a tracker, random noise."""

    def __init__(self, noise=0.01):
        super().__init__()
        self.noise_scale = noise
        self.net = keras.Sequential(
            [keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
        )
        self.noise = keras.random.SeedGenerator(1)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, x):
        return self.net(x)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        x = x + self.noise_scale * keras.random.normal(keras.ops.shape(x), seed=self.noise)
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(self(x) - y))
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def build_model(noise=0.01, kind=NoisyRegression):
    model = kind(noise)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    return model


def fit(directory, steps, noise=0.01, **settings):
    options = {"batch_size": 64, "checkpoint_every": 20, "progress": False, **settings}
    settings = trainer.Settings(steps, checkpoint_dir=directory, **options)
    return trainer.fit(lambda: build_model(noise), DATA, settings)


def test_a_resumed_fit_ends_exactly_as_an_uninterrupted_one(tmp_path):
    straight = fit(tmp_path / "straight", 60)
    first = fit(tmp_path / "resumed", 20)
    assert first.steps == 20 and first.resumed_from_step == 0
    resumed = fit(tmp_path / "resumed", 60)
    assert resumed.resumed_from_step == 20 and resumed.steps == 60
    for a, b in zip(straight.model.variables, resumed.model.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    assert resumed.metrics == straight.metrics and set(resumed.metrics) == {"loss"}
    assert (resumed.workers, resumed.replicas, resumed.is_chief) == (1, 1, True)


def test_a_model_compiled_with_a_loss_uses_keras_train_step(tmp_path):
    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        return model

    settings = trainer.Settings(steps=300, batch_size=32, progress=False, logdir=tmp_path)
    result = trainer.fit(build, DATA, settings)
    logged = read(tmp_path)
    assert [step for step, _ in logged["loss"]] == list(range(1, 301))
    assert result.metrics["loss"] < logged["loss"][0][1] / 10  # a linear target: learnt


class PythonIf(NoisyRegression):
    """A Python ``if`` on a tensor's value in ``train_step``: ``model.fit`` refuses it."""

    def train_step(self, data):
        if keras.ops.mean(data[1]) > 0:
            return super().train_step(data)
        return {"loss": keras.ops.zeros(())}


def test_train_step_is_traced_as_model_fit_traces_it():
    """No autograph, as in model.fit: the same error, so docs/own-model.md's advice holds."""
    import tensorflow as tf

    settings = trainer.Settings(steps=1, progress=False)
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError, match="Python `bool`"):
        build_model(kind=PythonIf).fit(*DATA, epochs=1, verbose=0)
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError, match="Python `bool`"):
        trainer.fit(lambda: build_model(kind=PythonIf), DATA, settings)


def read(logdir):
    """Every value TensorBoard would show (test_tensorboard.py's reader)."""
    from test_tensorboard import read  # here, not above: isort would order it by the
    # package's name (first-party both), and some names sort before "test_", some after

    return read(logdir)


def test_report_images_and_text_reach_tensorboard(tmp_path):
    def report(model, step):
        return {"picture": np.linspace(0, 1, 64).reshape(8, 8), "note": f"step {step}"}

    settings = trainer.Settings(steps=20, logdir=tmp_path, progress=False)
    trainer.fit(build_model, DATA, settings, report=report)
    logged = read(tmp_path)
    [(step, (width, height, png))] = logged["picture"]
    assert (step, width, height) == (20, b"8", b"8") and png.startswith(b"\x89PNG")
    [(step, text)] = logged["note"]
    assert step == 20 and text.item() == b"step 20"
    assert len(logged["loss"]) == 20


@pytest.mark.slow
def test_two_replicas_train_as_one_with_unequal_parts(tmp_path):
    """2 replicas (two logical CPUs, MirroredStrategy), a batch of 101 cut 50 + 51: the
    same weights as one replica. Keras sums the replicas' gradients; the trainer makes
    the sum the mean gradient of the global batch. (Without the noise: each replica
    draws its own, so a noisy model cannot match one replica's draws.)"""
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from {{ cookiecutter.package }}.trainer import strategy
        tf = strategy.tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        two = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two)
        if sys.argv[1] == "2":
            strategy._CHOSEN.append((tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), True))
        import test_trainer
        result = test_trainer.fit(None, 30, noise=0.0, batch_size=101)
        assert result.replicas == int(sys.argv[1]), result.replicas
        np.save(sys.argv[2], np.concatenate([np.ravel(w) for w in result.model.get_weights()]))
        """
    )
    weights = []
    for replicas in ("1", "2"):
        out = tmp_path / f"{replicas}.npy"
        done = subprocess.run([sys.executable, "-c", script, replicas, str(out)], check=False)
        assert done.returncode == 0
        weights.append(np.load(out))
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-4, atol=1e-6)


def test_a_signal_before_the_first_step_exits_75_with_a_message(tmp_path, capsys):
    def body():
        os.kill(os.getpid(), signal.SIGTERM)  # as Slurm would, while TensorFlow loads
        fit(tmp_path / "ck", 40)

    assert trainer.run_command(body) == trainer.INTERRUPTED_EXIT
    err = capsys.readouterr().err
    assert "SIGTERM: interrupted at step 0; nothing to save yet" in err
    assert not list((tmp_path / "ck").glob("ckpt-*"))


def test_bad_settings_and_models_exit_2(tmp_path, capsys):
    def no_optimizer():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    assert trainer.run_command(lambda: trainer.fit(no_optimizer, DATA)) == 2
    assert "build_model must return a compiled model" in capsys.readouterr().err
    ragged = (ROWS, ROWS[:10])
    assert trainer.run_command(lambda: trainer.fit(build_model, ragged)) == 2
    assert "the same number of rows" in capsys.readouterr().err
    settings = trainer.Settings(steps=1, logdir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="an image is HxW, HxWxC or NxHxWxC"):
        trainer.fit(build_model, DATA, settings, report=lambda model, step: {"x": np.ones(3)})
