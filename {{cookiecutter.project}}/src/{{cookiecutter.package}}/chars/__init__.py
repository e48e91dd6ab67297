"""The text starter: a character-level language model, p(text) one character at a time.

The lecture's MLE once more, now with an exact likelihood: by the chain rule,

    p(c_1, ..., c_T) = p(c_1) p(c_2 | c_1) ... p(c_T | c_1, ..., c_{T-1})

and a recurrent network (a GRU) gives each conditional, a softmax over the
characters. Its NLL is measured in bits per character, beside the simplest
model, which ignores the context (each character as often as in the text).

* ``text.py``      the text the project ships, its characters, training windows
* ``baseline.py``  the unigram model: what the network must beat
* ``model.py``     the network and its training step (keras.io style)
* ``sampling.py``  writing new text, one sampled character at a time
* ``command.py``   ``python -m <package> chars``: train, report, save a sample

Not using it? Delete it as docs/starters.md says; nothing else needs it.
"""
