"""Stage evaluate@<model>: score one trained model, as metrics and plots kept in git.

    python stages/evaluate.py cnn data/tensors models/cnn.safetensors \
        metrics/cnn.json plots/cnn/history.csv plots/cnn/confusion.csv plots/cnn/most_wrong.png

Loads the model file and the tensor files with torch and computes every score here: loss and
accuracy on the validation and test splits, the test split's confusion pairs, the validation
images the model gets most wrong; and writes out the training's per-epoch history from the
model's card. A new metric reruns this stage alone, never a training.
"""

import argparse
from pathlib import Path

from mnist_pipeline import startup
from mnist_pipeline.core.cli import run_stage


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

    with startup.frozen_imports():  # start-up and exit 0.5 s shorter: torch's objects frozen
        from mnist_pipeline.evaluate.results import ResultPaths, write_results

    write_results(args.model, args.weights, args.tensors,
                  ResultPaths(args.metrics, args.history, args.confusion, args.most_wrong))


if __name__ == "__main__":
    run_stage(main, "evaluate")
