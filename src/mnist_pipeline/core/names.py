"""The names the stages share: the tutorial's models in its order, the splits and the dataset's
files (``mnist.pkl.gz`` or the four MNIST idx files). ``check_model_name`` is the one check of a
model name; ``tutorial.models.get_model`` builds them.
"""

import difflib

from mnist_pipeline.core.errors import PipelineError

MODEL_NAMES = ("scratch", "logistic", "cnn", "sequential", "adaptive")
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
    """A model name that is not one of the tutorial's."""


def check_model_name(name: str, key: str | None = None) -> str:
    """``name`` if it is a model of the tutorial; else an error listing them (naming ``key``,
    the params.yaml entry, when given)."""
    if name not in MODEL_NAMES:
        what = f"{key}: unknown model" if key else f"unknown model {name!r}"
        raise UnknownModelError(f"{what}; valid models: {', '.join(MODEL_NAMES)}"
                                f"{did_you_mean(name, MODEL_NAMES)}")
    return name


def did_you_mean(word: object, allowed: tuple[str, ...]) -> str:
    """``"; did you mean 'lr'?"`` for a close or abbreviated match in ``allowed``, else ``""``."""
    word = str(word)
    close = difflib.get_close_matches(word, allowed, n=1, cutoff=0.5)
    if not close:  # abbreviations and long forms: "learning_rate" for "lr", "batch" for "bs"
        close = [name for name in allowed
                 if _initials(word).startswith(name) or _initials(name).startswith(word)]
    return f"; did you mean {close[0]!r}?" if close else ""


def _initials(key: str) -> str:
    return "".join(part[0] for part in key.replace("-", "_").split("_") if part)
