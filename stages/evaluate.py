"""Stage evaluate@<model>: one trained model's scores as metrics and plots, kept in git.

    python stages/evaluate.py cnn data/tensors models/cnn.safetensors \
        metrics/cnn.json plots/cnn/train.csv plots/cnn/confusion.csv plots/cnn/most_wrong.png

The train stage scored the model, in the process that holds it on its device, and wrote the
scores into the model file's card; this stage writes them out as the small files DVC compares
across commits (no `dvc pull` needed), and draws the validation images the model gets most
wrong. It does not import torch.
"""

import argparse
from pathlib import Path

from mnist_pipeline.core.cli import run_stage
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

    write_results(args.model, args.weights, args.tensors,
                  ResultPaths(args.metrics, args.history, args.confusion, args.most_wrong))


if __name__ == "__main__":
    run_stage(main, "evaluate")
