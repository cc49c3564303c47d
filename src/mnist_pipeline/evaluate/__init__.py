"""The evaluate stage's work: a model file's record as the metrics and plot files DVC
compares. Imports no torch."""
