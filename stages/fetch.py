"""Stage fetch: download mnist.pkl.gz from data.url or a mirror, verified by size and md5.

    python stages/fetch.py data/raw/mnist.pkl.gz
"""

import argparse
import logging

from mnist_pipeline.cli import run_stage
from mnist_pipeline.fetch import Expected, fetch_dataset
from mnist_pipeline.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="where the verified file goes")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()

    data = load_params(args.params).data
    source = fetch_dataset(
        [data.url, *data.mirrors], args.out, Expected(size=data.size, md5=data.md5),
        timeout_s=data.timeout_s, retries=data.retries, retry_backoff_s=data.retry_backoff_s,
    )
    logging.info("fetched %s from %s", args.out, source)


if __name__ == "__main__":
    run_stage(main, "fetch")
