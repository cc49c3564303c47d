"""What every stage script shares: logging to stderr and clean exits for user errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from mnist_pipeline.errors import PipelineError


def run_stage(main: Callable[[], None], name: str) -> None:
    """Run a stage's ``main``; a :class:`PipelineError` becomes one line on stderr and exit 1."""
    logging.basicConfig(level=logging.INFO, format=f"{name}: %(message)s", stream=sys.stderr)
    try:
        main()
    except PipelineError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        sys.exit(1)
