"""The train stage's runtime around the tutorial's code: devices, ranks, checkpoints, callbacks
and the record each model file carries."""
