"""The models of PyTorch's "What is torch.nn really?" as a reproducible DVC pipeline.

One subpackage per pipeline step: ``fetch``, ``convert``, ``tutorial`` (the tutorial's own
code, under its own names), ``train`` (what the train stage adds around it) and ``evaluate``;
``core`` holds what every stage shares. The tutorial's ``get_data``, ``get_model``,
``loss_batch`` and ``fit`` are ``tutorial.data.get_data``, ``tutorial.models.get_model`` and
``tutorial.fit.loss_batch`` / ``fit``.
"""
