"""The evaluate stage's work: a model file's record as the metrics and plot files DVC
compares, and a summary table across models. Imports no torch."""
