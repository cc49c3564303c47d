"""The models of PyTorch's "What is torch.nn really?" as a reproducible DVC pipeline.

A subpackage per pipeline step (``fetch``, ``convert``, ``train``, ``evaluate``), the
tutorial's own code in ``tutorial``, and ``core`` for what every stage shares.
"""
