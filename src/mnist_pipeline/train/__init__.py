"""The train stage (``training.train_model``, top to bottom) and what it calls around the
tutorial's ``fit``: the models by name, batches, the monitor, checkpoints, the live view,
scores, devices and ranks."""
