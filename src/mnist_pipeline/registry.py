"""The names everything shares: the model variants in the tutorial's order, the splits, and
the dataset's file names (``mnist.pkl.gz`` or the four MNIST idx files).

Kept apart from ``models`` (which builds them) and ``formats`` (which reads the source files),
so that reading params, the stages that need no torch, and the train stage's dependencies in
``dvc.yaml`` stay small: training does not depend on the unpickler's code.
"""

from mnist_pipeline.errors import PipelineError

VARIANT_NAMES = ("scratch", "logistic", "cnn", "sequential", "adaptive")
SPLITS = ("train", "valid", "test")
CLASSES = 10
PICKLE_NAME = "mnist.pkl.gz"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class UnknownModelError(PipelineError, ValueError):
    """A model name that is not one of the tutorial's variants."""


def check_variant_name(name: str) -> None:
    if name not in VARIANT_NAMES:
        raise UnknownModelError(
            f"unknown model {name!r}; valid models: {', '.join(VARIANT_NAMES)}"
        )
