"""The names of the model variants, in the tutorial's order.

Kept apart from ``models`` (which builds them) so that reading and validating params, and the
stages that need no torch, never pay for importing it.
"""

from mnist_pipeline.errors import PipelineError

VARIANT_NAMES = ("scratch", "logistic", "cnn", "sequential", "adaptive")


class UnknownModelError(PipelineError, ValueError):
    """A model name that is not one of the tutorial's variants."""


def check_variant_name(name: str) -> None:
    if name not in VARIANT_NAMES:
        raise UnknownModelError(
            f"unknown model {name!r}; valid models: {', '.join(VARIANT_NAMES)}"
        )
