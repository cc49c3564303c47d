"""Stage train@<model>: train one tutorial model; write its weights.

    python stages/train.py cnn data/tensors models/cnn.safetensors

The per-epoch history (train loss, validation loss and accuracy) travels inside the weight file's
metadata; the evaluate stage writes it out as a plot. Keeping the model the stage's only output
lets DVC restore a training run from the run-cache through a remote: a remote holds cached
outputs only, never `cache: false` ones.
"""

import argparse

from mnist_pipeline.cli import run_stage
from mnist_pipeline.params import check_variant_name, load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the variant to train (see params.yaml: models)")
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("weights", help="output .safetensors file")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()

    check_variant_name(args.model)
    params = load_params(args.params)
    # torch is imported only once the arguments and params are known to be good.
    from mnist_pipeline.trainer import train_variant
    from mnist_pipeline.weights import save_weights

    result = train_variant(args.model, params, args.tensors)
    save_weights(args.weights, result.model, result.metadata)


if __name__ == "__main__":
    run_stage(main, "train")
