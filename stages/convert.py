"""Stage convert: the fetched dataset (mnist.pkl.gz or the idx files) -> a tensor file per split.

    python stages/convert.py data/raw data/tensors plots/samples.png

data/raw holds mnist.pkl.gz or the four MNIST idx .gz files; either gives the same tensors.
"""

import argparse
import logging

from mnist_pipeline.convert.readers import read_source
from mnist_pipeline.core.cli import run_stage
from mnist_pipeline.core.tensor_files import save_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a folder holding mnist.pkl.gz or the four idx .gz files "
                                       "(or mnist.pkl.gz itself)")
    parser.add_argument("out", help="folder for train/valid/test .safetensors")
    parser.add_argument("samples", nargs="?", help="optional PNG of training images and labels")
    args = parser.parse_args()

    splits = read_source(args.source)
    save_splits(splits, args.out)
    if args.samples:
        from mnist_pipeline.evaluate.pictures import sample_grid, save_png

        save_png(sample_grid(splits["train"].x, splits["train"].y), args.samples)
    sizes = ", ".join(f"{name} {len(split.y)}" for name, split in splits.items())
    logging.info("wrote %s (%s)", args.out, sizes)


if __name__ == "__main__":
    run_stage(main, "convert")
