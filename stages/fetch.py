"""Stage fetch: the MNIST dataset from data.url or a mirror, verified, into a folder.

    python stages/fetch.py data/raw

The folder gets mnist.pkl.gz, or the four MNIST idx .gz files from an idx mirror; partial
downloads wait in data/.raw.download/ for the next run to resume them.
"""

import argparse
import logging

from mnist_pipeline.core.cli import run_stage
from mnist_pipeline.core.params import load_params
from mnist_pipeline.fetch.dataset import dataset_sources, fetch_dataset
from mnist_pipeline.fetch.http import Patience


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the folder that gets the verified files")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()

    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry lines are reprs; ours are one
    data = load_params(args.params).data
    patience = Patience(timeout_s=data.timeout_s, retries=data.retries,
                        backoff_s=data.retry_backoff_s)
    source = fetch_dataset(dataset_sources(data), args.out, patience)
    logging.info("fetched %s from %s", args.out, source.label)


if __name__ == "__main__":
    run_stage(main, "fetch")
