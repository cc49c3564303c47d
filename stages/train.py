"""Stage train@<model>: train one tutorial model, evaluate it, write its weights.

    python stages/train.py cnn data/tensors models/cnn.safetensors

The weight file also holds the per-epoch history and the trained model's evaluation (see
``mnist_pipeline.provenance``); the evaluate stage writes them out as metrics and plots without
importing torch. Keeping the model the stage's only output lets DVC restore a training run from
the run-cache through a remote: a remote holds cached outputs only, never `cache: false` ones.

After every epoch the stage checkpoints to ``.checkpoints/<model>.pt``; run after an
interruption (Ctrl-C, SIGTERM), it resumes there and removes the checkpoint once the model is
written. With ``train.nproc``/``train.nnodes`` > 1 it runs itself under torchrun; other nodes
join with ``--node-rank N`` (see the README).
"""

import argparse
import logging
import os
import sys

from mnist_pipeline.cli import run_stage, stop_on_signals, stop_with_parent
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.launch import check_devices, run_ranks, under_torchrun
from mnist_pipeline.params import check_variant_name, load_params

log = logging.getLogger("train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the variant to train (see params.yaml: models)")
    parser.add_argument("tensors", help="folder written by the convert stage")
    parser.add_argument("weights", help="output .safetensors file")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--node-rank", type=int, default=0,
                        help="this machine's place when train.nnodes > 1 (the dvc one is 0)")
    args = parser.parse_args()

    check_variant_name(args.model)
    params = load_params(args.params)
    setup = params.train
    stop_with_parent()
    if setup.nproc * setup.nnodes > 1 and not under_torchrun():
        check_node_rank(args.node_rank, setup.nnodes)
        check_devices(setup)
        sys.exit(run_ranks(setup, args.node_rank, [__file__, *sys.argv[1:]]))
    stop_on_signals()

    from mnist_pipeline.checkpoints import Checkpoint, DataDigest, run_key

    # Hashed on another core while torch imports: rank 0's checkpoint key needs it.
    digest = DataDigest(args.tensors) if os.environ.get("RANK", "0") == "0" else None

    from mnist_pipeline import dynamo_stand_in
    from mnist_pipeline.distributed import disconnect, ranks_from_environment

    ranks = ranks_from_environment()

    dynamo_stand_in.install()  # optim.SGD without importing the compiler: ~2 s saved
    import torch

    from mnist_pipeline.trainer import train_variant
    from mnist_pipeline.training import DivergenceError, TrainingInterrupted
    from mnist_pipeline.weights import save_weights

    hyper = params.model(args.model)
    inputs = {"model": args.model, "train": [setup.seed, setup.device, setup.bs, setup.epochs],
              "lr": hyper.lr, "momentum": hyper.momentum, "ranks": ranks.world,
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    checkpoint = (Checkpoint(args.model, lambda: run_key(inputs, digest))
                  if ranks.is_main else None)
    try:
        result = train_variant(args.model, params, args.tensors, checkpoint, ranks)
    except TrainingInterrupted as stop:
        if checkpoint is not None:
            if checkpoint.saved_epoch:
                log.warning("%s; epochs 1-%d are saved in %s: run `dvc repro` again to resume",
                            stop, checkpoint.saved_epoch, checkpoint.path)
            else:
                log.warning("%s, before the first checkpoint", stop)
        raise
    except DivergenceError as err:
        if checkpoint is not None:
            checkpoint.remove()
        raise PipelineError(f"{err}; no model written. Lower models.{args.model}.lr "
                            f"(now {hyper.lr}) and run again") from None
    if ranks.is_main:
        save_weights(args.weights, result.model, result.metadata)
        checkpoint.remove()
    disconnect(ranks)


def check_node_rank(node_rank: int, nnodes: int) -> None:
    if not 0 <= node_rank < nnodes:
        raise PipelineError(f"--node-rank {node_rank}: expected 0..{nnodes - 1} "
                            f"(train.nnodes is {nnodes})")


if __name__ == "__main__":
    run_stage(main, "train")
