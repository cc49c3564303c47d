"""Stage train@<model>: train one tutorial model, score it, write its weights.

    python stages/train.py cnn data/tensors models/cnn.safetensors --live live/cnn.json live/cnn.csv

The training itself reads top to bottom in ``mnist_pipeline.train.training.train_model``. The
model file also holds the model's card: its per-epoch history and scores, which the evaluate
stage writes out as metrics and plots without importing torch. ``--live`` names this stage's two
other outputs, rewritten after every epoch for ``dvc exp show`` and ``dvc plots show``.

After every epoch the stage checkpoints to ``.checkpoints/<model>.pt``; run after an
interruption (Ctrl-C, SIGTERM), it resumes there and removes the checkpoint once the model is
written. With ``train.nproc``/``train.nnodes`` > 1 it runs itself under torchrun; other nodes
join with ``--node-rank N`` (see docs/scaling.md).
"""

import argparse
import sys
from pathlib import Path

from mnist_pipeline.core.cli import frozen_imports, run_stage, stop_on_signals, stop_with_parent
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.params import load_params
from mnist_pipeline.train.launch import check_devices, run_ranks, under_torchrun


def main() -> None:
    stop_with_parent()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the variant to train (see params.yaml: models)")
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("weights", help="output .safetensors file")
    parser.add_argument("--live", nargs=2, metavar=("METRICS", "HISTORY"), type=Path,
                        help="output JSON of the training's status and last epoch, and CSV of "
                             "its epochs, rewritten after every epoch")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--node-rank", type=int, default=0,
                        help="this machine's place when train.nnodes > 1 (the dvc one is 0)")
    args = parser.parse_args()

    params = load_params(args.params)
    params.model(args.model)  # a model that params.yaml has
    setup = params.train
    # Also with one node: a --node-rank 1 there would otherwise train alone and write a model.
    check_node_rank(args.node_rank, setup.nnodes)
    if setup.nproc * setup.nnodes > 1 and not under_torchrun():
        check_devices(setup)
        sys.exit(run_ranks(setup, args.node_rank, [__file__, *sys.argv[1:]]))
    stop_on_signals()
    with frozen_imports():  # torch's many objects frozen: the collector never walks them
        from mnist_pipeline.train import dynamo_stand_in

        dynamo_stand_in.install()  # this process never compiles: optim without the compiler
        from mnist_pipeline.train.live import LiveView
        from mnist_pipeline.train.ranks import disconnect
        from mnist_pipeline.train.training import train_model

    train_model(args.model, params, args.tensors, args.weights,
                LiveView(*args.live) if args.live else None)
    disconnect()


def check_node_rank(node_rank: int, nnodes: int) -> None:
    if not 0 <= node_rank < nnodes:
        expected = "0" if nnodes == 1 else f"0..{nnodes - 1}"
        raise PipelineError(f"--node-rank {node_rank}: expected {expected} "
                            f"(train.nnodes is {nnodes}); nothing was trained")


if __name__ == "__main__":
    run_stage(main, "train")
