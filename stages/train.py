"""Stage train@<model>: train one tutorial model, evaluate it, write its weights.

    python stages/train.py cnn data/tensors models/cnn.safetensors

The model file also holds the per-epoch history and the trained model's evaluation (see
``mnist_pipeline.core.model_files``); the evaluate stage writes them out as metrics and plots
without importing torch. Keeping the model the stage's only output lets DVC restore a training
run from the run-cache through a remote: a remote holds cached outputs only, never `cache:
false` ones.

With ``--live metrics/cnn.json plots/cnn/train.csv`` it also rewrites those two after every
epoch, so ``dvc exp show`` and ``dvc plots`` see the training while it runs.

After every epoch the stage checkpoints to ``.checkpoints/<model>.pt``; run after an
interruption (Ctrl-C, SIGTERM), it resumes there and removes the checkpoint once the model is
written. With ``train.nproc``/``train.nnodes`` > 1 it runs itself under torchrun; other nodes
join with ``--node-rank N`` (see docs/scaling.md).
"""

import argparse
import sys

from mnist_pipeline.core.cli import run_stage, stop_on_signals, stop_with_parent
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.names import check_model_name
from mnist_pipeline.core.params import load_params
from mnist_pipeline.train.launch import check_devices, run_ranks, under_torchrun


def main() -> None:
    stop_with_parent()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the variant to train (see params.yaml: models)")
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("weights", help="output .safetensors file")
    parser.add_argument("--live", nargs=2, metavar=("METRICS", "HISTORY"),
                        help="the model's metrics JSON and history CSV, rewritten after every "
                             "epoch while it trains (the evaluate stage writes their final form)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--node-rank", type=int, default=0,
                        help="this machine's place when train.nnodes > 1 (the dvc one is 0)")
    args = parser.parse_args()

    check_model_name(args.model)
    params = load_params(args.params)
    setup = params.train
    # Also with one node: a --node-rank 1 there would otherwise train alone and write a model.
    check_node_rank(args.node_rank, setup.nnodes)
    if setup.nproc * setup.nnodes > 1 and not under_torchrun():
        check_devices(setup)
        sys.exit(run_ranks(setup, args.node_rank, [__file__, *sys.argv[1:]]))
    stop_on_signals()
    from mnist_pipeline.train.stage import train_and_save  # imports torch only inside

    train_and_save(args.model, params, args.tensors, args.weights, args.live)


def check_node_rank(node_rank: int, nnodes: int) -> None:
    if not 0 <= node_rank < nnodes:
        expected = "0" if nnodes == 1 else f"0..{nnodes - 1}"
        raise PipelineError(f"--node-rank {node_rank}: expected {expected} "
                            f"(train.nnodes is {nnodes}); nothing was trained")


if __name__ == "__main__":
    run_stage(main, "train")
