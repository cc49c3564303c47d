"""Run under torchrun by test_distributed.py: train every variant with the ranks torchrun made.

    torchrun --standalone --nproc-per-node 2 tests/ddp_variants.py TENSORS OUT [PARAMS]

Rank 0 writes ``OUT/<model>.safetensors`` for each variant, as the train stage would.
"""

import sys

from mnist_pipeline.core.model_files import save_model
from mnist_pipeline.core.names import MODEL_NAMES
from mnist_pipeline.core.params import load_params
from mnist_pipeline.train.ranks import disconnect, ranks_from_environment
from mnist_pipeline.train.variant import train_variant

tensors, out, params_path = sys.argv[1], sys.argv[2], sys.argv[3]
ranks = ranks_from_environment()
params = load_params(params_path)
for name in MODEL_NAMES:
    result = train_variant(name, params, tensors, ranks=ranks)
    if ranks.is_main:
        save_model(f"{out}/{name}.safetensors", result.model.state_dict(), result.record)
disconnect(ranks)
