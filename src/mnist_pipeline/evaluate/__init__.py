"""The evaluate stage's work: a model file's card as the metrics and plot files DVC
compares, and the PNG grids (convert draws one too). Imports no torch."""
