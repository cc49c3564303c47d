"""Stage evaluate@<model>: metrics, confusion matrix and plots of one trained model.

    python stages/evaluate.py cnn data/tensors models/cnn.safetensors \
        metrics/cnn.json plots/cnn/train.csv plots/cnn/confusion.csv plots/cnn/most_wrong.png

The train stage already evaluated the model and stored the result in its model file; this
writes it out as the small files DVC compares across commits. It does not import torch.
"""

import argparse
from pathlib import Path

from mnist_pipeline.core.cli import run_stage
from mnist_pipeline.core.names import check_model_name
from mnist_pipeline.evaluate.results import ResultPaths, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the variant to evaluate")
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("weights", help=".safetensors file written by the train stage")
    parser.add_argument("metrics", type=Path, help="output JSON")
    parser.add_argument("history", type=Path,
                        help="output CSV: the training's losses and accuracy per epoch")
    parser.add_argument("confusion", type=Path,
                        help="output CSV of (actual, predicted) on the test split")
    parser.add_argument("most_wrong", type=Path,
                        help="output PNG of the validation images most wrong")
    args = parser.parse_args()

    check_model_name(args.model)
    write_results(args.model, args.weights, args.tensors,
                  ResultPaths(args.metrics, args.history, args.confusion, args.most_wrong))


if __name__ == "__main__":
    run_stage(main, "evaluate")
