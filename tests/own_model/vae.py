"""A variational autoencoder, written as keras.io writes it (keras.io/examples/generative/vae),
on 8x8 pictures of bars instead of MNIST (a compute node cannot download MNIST).

A student's own file, not the template's: tests/test_own_model.py copies it into a baked
project and trains it on mini-Quest. It is keras.io's script with ONE change, the one
the project documents for bringing your own model: instead of

    vae.compile(optimizer=keras.optimizers.Adam())
    vae.fit(images, epochs=30, batch_size=128)

the model is made by a function and trained by the project's trainer,

    fit(build_model, images, Settings(...))

which adds checkpoints, resuming, Slurm's warning -> exit 75, TensorBoard and several
workers. The command line (--steps, --batch-size, --checkpoint-dir, --logdir, ...)
comes from the trainer too. Added for the tests: ``--noise 0`` (no sampling noise: a
deterministic fit), the loss on held-out pictures, and the weights saved to a file.

    python vae.py --steps 600 --batch-size 64 --checkpoint-dir checkpoints/vae \
        --logdir logs/tensorboard/vae --weights results/vae.npz
"""

import argparse
import json
import os

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from genai_project.trainer import Settings, add_arguments, fit, run_command  # noqa: E402
from keras import layers, ops  # noqa: E402

"""
## Create a sampling layer
"""


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit.

    (Not keras.io's: ``noise=0`` switches the noise off, which makes the fit
    deterministic: the same on 1 worker as on 2, whose replicas draw their own noise.)
    """

    def __init__(self, noise=1.0, **kwargs):
        super().__init__(**kwargs)
        self.noise = noise
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + self.noise * ops.exp(0.5 * z_log_var) * epsilon


"""
## Build the encoder and the decoder (keras.io's, for 8x8 pictures: 8 -> 4 -> 2 and back)
"""

latent_dim = 2


def build_encoder(noise):
    encoder_inputs = keras.Input(shape=(8, 8, 1))
    x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling(noise)([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")


def build_decoder():
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(2 * 2 * 32, activation="relu")(latent_inputs)
    x = layers.Reshape((2, 2, 32))(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(latent_inputs, decoder_outputs, name="decoder")


"""
## Define the VAE as a `Model` with a custom `train_step`
"""


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
        ]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(
                    keras.losses.binary_crossentropy(data, reconstruction),
                    axis=(1, 2),
                )
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))  # noqa: B905 (keras.io's line)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }


"""
## The data: 8x8 black pictures with one or two white bars (seeded, so every run agrees)
"""


def bars(n, seed):
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 8, 8, 1), dtype="float32")
    for image in images:
        for _ in range(rng.integers(1, 3)):
            where = rng.integers(8)
            if rng.random() < 0.5:
                image[where, :, 0] = 1.0
            else:
                image[:, where, 0] = 1.0
    return images


"""
## Train the VAE: the one change, `fit(build_model, data, settings)` instead of `vae.fit`
"""


def build_model(noise=1.0):
    vae = VAE(build_encoder(noise), build_decoder())
    vae.compile(optimizer=keras.optimizers.Adam())
    return vae


def samples(vae, step):
    """For TensorBoard: the pictures the decoder makes from a 4x4 grid of latent points."""
    grid = np.linspace(-1.5, 1.5, 4, dtype="float32")
    z = np.array([[a, b] for a in grid for b in grid], dtype="float32")
    return {"decoded": ops.convert_to_numpy(vae.decoder(z))}  # 16 x 8 x 8 x 1, in [0, 1]


def held_out_loss(vae, images):
    """The loss (the negative ELBO) per picture on pictures the fit never saw."""
    z_mean, z_log_var, z = vae.encoder(images)
    reconstruction = keras.losses.binary_crossentropy(images, vae.decoder(z))
    kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    return float(ops.mean(ops.sum(reconstruction, axis=(1, 2))) + ops.mean(ops.sum(kl, axis=1)))


def train(args):
    images = bars(1024, seed=0)
    settings = Settings.from_args(args)
    result = fit(lambda: build_model(args.noise), images, settings, report=samples)
    if result.is_chief:  # with several workers, one writes
        if args.weights:
            weights = {w.path: ops.convert_to_numpy(w) for w in result.model.weights}
            np.savez(args.weights, **weights)
        summary = {
            "steps": result.steps,
            "resumed_from_step": result.resumed_from_step,
            "metrics": result.metrics,
            "workers": result.workers,
            "replicas": result.replicas,
            "held_out_loss": held_out_loss(result.model, bars(1024, seed=1)),
        }
        print(json.dumps(summary))
    return 0


def main():
    parser = argparse.ArgumentParser(description="Train keras.io's VAE on 8x8 bars.")
    add_arguments(parser, steps=600)
    parser.add_argument("--weights", help="save the trained weights here (.npz)")
    parser.add_argument("--noise", type=float, default=1.0, help="0: no sampling noise")
    args = parser.parse_args()
    return run_command(lambda: train(args))


if __name__ == "__main__":
    raise SystemExit(main())
