"""Stage evaluate@<model>: metrics, confusion matrix and plots of one trained model.

    python stages/evaluate.py cnn data/tensors models/cnn.safetensors \
        metrics/cnn.json plots/cnn/train.csv plots/cnn/confusion.csv plots/cnn/most_wrong.png
"""

import argparse

from mnist_pipeline.cli import run_stage
from mnist_pipeline.files import write_csv, write_json
from mnist_pipeline.params import check_variant_name, load_params

HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the variant to evaluate")
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("weights", help=".safetensors file written by the train stage")
    parser.add_argument("metrics", help="output JSON")
    parser.add_argument("history", help="output CSV: the training's losses and accuracy per epoch")
    parser.add_argument("confusion", help="output CSV of (actual, predicted) on the test split")
    parser.add_argument("most_wrong", help="output PNG of the validation images most wrong")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()

    check_variant_name(args.model)
    params = load_params(args.params)
    from mnist_pipeline.evaluation import evaluate_variant
    from mnist_pipeline.pictures import save_png

    result = evaluate_variant(args.model, params, args.tensors, args.weights)
    write_json(args.metrics, result.metrics)
    write_csv(args.history, HISTORY_COLUMNS, [[row[c] for c in HISTORY_COLUMNS]
                                              for row in result.history])
    write_csv(args.confusion, ["actual", "predicted"], result.confusion_rows)
    save_png(result.most_wrong, args.most_wrong)


if __name__ == "__main__":
    run_stage(main, "evaluate")
