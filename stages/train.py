"""Stage train@<model>: train one tutorial model, write its weights and how they were made.

    python stages/train.py cnn data/tensors models/cnn.safetensors live/cnn

The training reads top to bottom in ``mnist_pipeline.train.training.train_model``; the model
file holds the weights and the model's card (params, device, versions, per-epoch history).
The last argument is the stage's DVCLive folder, logged after every epoch for `dvc exp show`
and `dvc plots show`. After every epoch the stage checkpoints to ``.checkpoints/<model>.pt``;
run again after an interruption (Ctrl-C, SIGTERM), it resumes there. With ``train.nproc`` or
``train.nnodes`` > 1 it hands itself over to torchrun (docs/scaling.md).
"""

import argparse
import sys

from mnist_pipeline.core.cli import run_stage, stop_on_signals, stop_with_parent
from mnist_pipeline.core.params import load_params
from mnist_pipeline.train.launch import run_ranks, under_torchrun

import startup  # beside this script: what it sets in its own process


def main() -> None:
    stop_with_parent()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the variant to train (see params.yaml: models)")
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("weights", help="output .safetensors file")
    parser.add_argument("live", nargs="?", help="output folder of the live view (DVCLive)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()

    params = load_params(args.params)
    params.model(args.model)  # a model that params.yaml has
    if params.train.ranks > 1 and not under_torchrun():
        sys.exit(run_ranks(params.train, [__file__, *sys.argv[1:]]))
    stop_on_signals()
    # Each kept for what benchmarks/bench_startup.py measured it to save of a one-model rerun:
    startup.keep_freed_memory()  # 22 %; a CNN epoch 44 %: its activations reuse freed memory
    with startup.frozen_imports():  # 10 %: the collector never walks torch's objects
        startup.install_dynamo_stand_in()  # 18 %: optim without the compiler
        from mnist_pipeline.train.ranks import disconnect
        from mnist_pipeline.train.training import train_model
    if params.train.deterministic:
        startup.deterministic_algorithms()
    train_model(args.model, params, args.tensors, args.weights, args.live)
    disconnect()


if __name__ == "__main__":
    run_stage(main, "train")
