"""The fetch stage's work: the dataset from ``data.url`` or a mirror, verified, into
``data/raw``."""
