"""The models of PyTorch's "What is torch.nn really?" as a reproducible DVC pipeline.

The tutorial ends at four functions, ``get_data``, ``get_model``, ``loss_batch`` and ``fit``;
here they are ``batches.get_data``, ``models.get_model``, ``training.loss_batch`` and
``training.fit``.
"""
