"""Run under torchrun by test_distributed.py: train every variant with the ranks torchrun made.

    torchrun --standalone --nproc-per-node 2 tests/ddp_variants.py TENSORS OUT PARAMS

Each model is trained by the train stage's own function, as its stage would; rank 0 writes
``OUT/<model>.safetensors``.
"""

import sys

from mnist_pipeline.core.params import load_params
from mnist_pipeline.train.ranks import disconnect
from mnist_pipeline.train.training import train_model

tensors, out, params_path = sys.argv[1], sys.argv[2], sys.argv[3]
params = load_params(params_path)
for name in params.models:
    train_model(name, params, tensors, f"{out}/{name}.safetensors")
disconnect()
