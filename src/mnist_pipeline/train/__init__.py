"""The train stage (``training.train_model``, top to bottom) and what it calls around the
tutorial's ``fit``."""
