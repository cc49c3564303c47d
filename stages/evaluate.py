"""Stage evaluate: score every trained model, as metrics and plots kept in git.

    python stages/evaluate.py data/tensors models metrics plots/history.csv \
        plots/confusion.csv plots/most_wrong

Loads each model file of params.yaml's models and the tensor files with torch, in one process,
and computes every score here: loss and accuracy on the validation and test splits, the test
split's confusion matrix, the validation images each model gets most wrong; and writes out the
trainings' per-epoch histories from the models' cards. A new metric reruns this stage alone,
never a training.
"""

import argparse
from pathlib import Path

from mnist_pipeline.core.cli import run_stage
from mnist_pipeline.core.params import load_params

import startup  # beside this script: what it sets in its own process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("models", help="folder of the train stages' <model>.safetensors")
    parser.add_argument("metrics", type=Path, help="output folder: <model>.json")
    parser.add_argument("history", type=Path, help="output CSV: every model's epochs")
    parser.add_argument("confusion", type=Path,
                        help="output CSV: each model's (actual, predicted) counts, test split")
    parser.add_argument("most_wrong", type=Path,
                        help="output folder: <model>.png, the validation images most wrong")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()

    names = list(load_params(args.params).models)
    with startup.frozen_imports():  # 11 % of a one-model rerun (benchmarks/bench_startup.py)
        from mnist_pipeline.evaluate.results import ResultPaths, write_results

    write_results(names, args.models, args.tensors,
                  ResultPaths(args.metrics, args.history, args.confusion, args.most_wrong))


if __name__ == "__main__":
    run_stage(main, "evaluate")
