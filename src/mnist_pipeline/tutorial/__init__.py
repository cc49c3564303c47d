"""The tutorial "What is torch.nn really?": its code under its own names, section by section.

=====================================  =================================================
the tutorial's section                  here
=====================================  =================================================
Neural net from scratch                 ``scratch``: ``log_softmax``, ``nll``,
                                        ``accuracy``, ``Scratch``, ``ManualSGD``
Refactor using nn.Linear, optim         ``models``: ``Mnist_Logistic``, ``get_model``
Refactor using Dataset, DataLoader      ``data.get_data``
Create fit() and get_data()             ``fit``: ``loss_batch``, ``fit``
Switch to CNN, nn.Sequential            ``models``: ``Mnist_CNN``, ``Lambda``,
                                        ``preprocess``, ``sequential_cnn``
Wrapping DataLoader, Using your GPU     ``data``: ``preprocess``, ``WrappedDataLoader``;
                                        ``models.adaptive_cnn``; ``get_model(..., dev)``
=====================================  =================================================
"""
