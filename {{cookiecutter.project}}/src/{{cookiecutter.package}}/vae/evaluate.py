"""What a trained VAE says about images: its bound, its samples, its reconstructions."""

from __future__ import annotations

import numpy as np

from .._tf import import_tensorflow

tf = import_tensorflow()


def negative_elbo(vae, images: np.ndarray, draws: int = 10, batch: int = 1000) -> float:
    """The mean negative ELBO of ``images`` in nats per image: an upper bound on their NLL.

    Averaged over ``draws`` samples of z per image (fixed seeds: the same answer every
    time), so it measures the model, not the luck of one draw.
    """
    totals = []
    for draw in range(draws):
        for start in range(0, len(images), batch):
            chunk = tf.constant(images[start : start + batch])
            reconstruction, kl = vae.elbo_terms(chunk, tf.constant([draw, 2**31], tf.int64))
            totals.append((reconstruction + kl).numpy())
    return float(np.concatenate(totals).mean())


def samples(vae, count: int, seed: int = 0) -> np.ndarray:
    """``count`` new images: z from the prior p(z), then each pixel's P(white) under p(x|z).

    The probabilities (grey where the model is unsure) show more than coin flips would.
    """
    latent_dim = vae.decoder.input_shape[-1]
    z = np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)
    return tf.sigmoid(vae.decoder(z)).numpy()


def reconstructions(vae, images: np.ndarray) -> np.ndarray:
    """Each image through the encoder (its most likely code) and back through the decoder."""
    return tf.sigmoid(vae(tf.constant(images))).numpy()
