"""The tutorial "What is torch.nn really?": its code under its own names, section by section.

``scratch``: "Neural net from scratch". ``models``: ``Mnist_Logistic``, ``Mnist_CNN``, the
``nn.Sequential`` CNNs and ``get_model``. ``data``: ``get_data`` and ``WrappedDataLoader``.
``fit``: ``loss_batch`` and ``fit``. The README maps each section to its function.
"""
