"""Stage train@<model>: train one tutorial model; write its weights and per-epoch history.

    python stages/train.py cnn data/tensors models/cnn.safetensors plots/cnn/train.csv
"""

import argparse

from mnist_pipeline.cli import run_stage
from mnist_pipeline.files import write_csv
from mnist_pipeline.params import check_variant_name, load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the variant to train (see params.yaml: models)")
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("weights", help="output .safetensors file")
    parser.add_argument("history", help="output CSV: one row of losses and accuracy per epoch")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()

    check_variant_name(args.model)
    params = load_params(args.params)
    # torch is imported only once the arguments and params are known to be good.
    from mnist_pipeline.trainer import train_variant
    from mnist_pipeline.weights import save_weights

    result = train_variant(args.model, params, args.tensors)
    save_weights(args.weights, result.model, result.metadata)
    rows = [record.as_row() for record in result.history]
    write_csv(args.history, list(rows[0]), [list(row.values()) for row in rows])


if __name__ == "__main__":
    run_stage(main, "train")
