"""The image starter: a variational autoencoder (VAE) on small pictures of digits.

The lecture's MLE again, for a model whose likelihood has no formula: an image x
comes from a hidden code z (p(z) a standard normal, p(x|z) the decoder), and
p(x) = integral of p(z) p(x|z) dz cannot be computed. The VAE maximises the
ELBO instead, a lower bound on log p(x), with an encoder q(z|x) that guesses
which codes could have made x.

* ``data.py``      the images (scikit-learn's 8x8 digits; MNIST once fetched)
* ``model.py``     the encoder, the decoder and the VAE's training step (keras.io style)
* ``baseline.py``  the same pixels without a latent code: what the VAE must beat
* ``pictures.py``  samples and reconstructions as one picture
* ``command.py``   ``python -m <package> vae``: train, report, save the pictures

Not using it? Delete it as docs/starters.md says; nothing else needs it.
"""
