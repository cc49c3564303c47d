"""The names of the model variants, in the tutorial's order.

Kept apart from ``models`` (which builds them) so that reading and validating params, and the
fetch and convert stages, never pay for importing torch.
"""

VARIANT_NAMES = ("scratch", "logistic", "cnn", "sequential", "adaptive")
