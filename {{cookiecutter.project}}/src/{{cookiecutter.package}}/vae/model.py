"""A variational autoencoder, written the keras.io way (after its "Variational
AutoEncoder" example): an encoder, a ``Sampling`` layer, a decoder, and a
``keras.Model`` whose ``train_step`` is one gradient step on the negative ELBO.

For one image x, with the encoder's guess q(z|x) = Normal(z_mean, exp(z_log_var)):

    log p(x) >= ELBO = E_q[ log p(x|z) ] - KL( q(z|x) || p(z) )
                       (reconstruction)    (how far the guess is from the prior)

Both terms are in nats per image. Minimising the negative ELBO pushes log p(x) up:
maximum likelihood through a bound.
"""

from __future__ import annotations

import numpy as np

from .._tf import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow, imported quietly)
from keras import layers, ops  # noqa: E402


class Sampling(layers.Layer):
    """z = z_mean + sigma * epsilon, epsilon ~ Normal(0, 1): the reparameterisation trick.

    The randomness sits in epsilon, outside the parameters, so the gradient flows
    through z_mean and sigma. epsilon is drawn from ``seed`` (two integers) by a
    *stateless* generator: the same seed gives the same noise, so a fit resumed from
    a checkpoint draws exactly the noise an uninterrupted fit would have drawn.
    """

    def call(self, z_mean, z_log_var, seed):
        epsilon = tf.random.stateless_normal(tf.shape(z_mean), seed=seed)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def build_encoder(image_shape: tuple[int, int], latent_dim: int) -> keras.Model:
    """image -> (z_mean, z_log_var): the parameters of q(z|x), a normal per image."""
    images = keras.Input(shape=image_shape)
    h = layers.Flatten()(images)
    h = layers.Dense(256, activation="relu")(h)
    h = layers.Dense(128, activation="relu")(h)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(images, [z_mean, z_log_var], name="encoder")


def build_decoder(image_shape: tuple[int, int], latent_dim: int) -> keras.Model:
    """z -> one logit per pixel: p(x|z) is a coin per pixel, P(white) = sigmoid(logit)."""
    z = keras.Input(shape=(latent_dim,))
    h = layers.Dense(128, activation="relu")(z)
    h = layers.Dense(256, activation="relu")(h)
    logits = layers.Dense(image_shape[0] * image_shape[1])(h)
    return keras.Model(z, layers.Reshape(image_shape)(logits), name="decoder")


class VAE(keras.Model):
    """Encoder + decoder, trained on the negative ELBO (nats per image)."""

    def __init__(self, encoder, decoder, noise_seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.sampling = Sampling()
        self.noise_seed = noise_seed
        self.loss_tracker = keras.metrics.Mean(name="loss")  # the negative ELBO
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        # Listed here, Keras resets them when it starts a new epoch (or log interval).
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def build(self, input_shape):
        pass  # the encoder and the decoder were built from their keras.Input: nothing left

    def call(self, images):
        """The decoder's logits for each image's most likely code (z = z_mean)."""
        z_mean, _ = self.encoder(images)
        return self.decoder(z_mean)

    def elbo_terms(self, images, seed):
        """Per image: -log p(x|z) for one sampled z, and KL(q(z|x) || p(z)), in nats."""
        z_mean, z_log_var = self.encoder(images)
        z = self.sampling(z_mean, z_log_var, seed)
        logits = self.decoder(z)
        # -log p(x|z): the coins' cross-entropy, added up over the pixels.
        per_pixel = ops.binary_crossentropy(images, logits, from_logits=True)
        reconstruction = ops.sum(ops.reshape(per_pixel, (ops.shape(images)[0], -1)), axis=1)
        # The KL divergence of two normals has a formula: no sampling needed.
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
        return reconstruction, kl

    def train_step(self, images):
        """batch -> negative ELBO -> gradient -> one optimizer step."""
        # Fresh noise every step, and the same noise for the same step after a resume.
        step = tf.cast(self.optimizer.iterations.value, tf.int64)  # counts the steps taken
        seed = tf.stack([tf.constant(self.noise_seed, tf.int64), step])
        with tf.GradientTape() as tape:
            reconstruction, kl = self.elbo_terms(images, seed)
            loss = ops.mean(reconstruction + kl)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(ops.mean(reconstruction))
        self.kl_tracker.update_state(ops.mean(kl))
        return {metric.name: metric.result() for metric in self.metrics}


def build_vae(image_shape, latent_dim: int = 8, learning_rate: float = 1e-3, seed: int = 0):
    """A compiled VAE for images of ``image_shape`` (height, width); same seed, same start."""
    keras.utils.set_random_seed(seed)
    encoder = build_encoder(tuple(image_shape), latent_dim)
    decoder = build_decoder(tuple(image_shape), latent_dim)
    vae = VAE(encoder, decoder, noise_seed=seed)
    vae(np.zeros((1, *image_shape), np.float32))  # a first call marks the model as built
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return vae
