"""The names the stages share: the models, the splits, the dataset's files; and the one check
of a model name.
"""

import difflib

from mnist_pipeline.core.errors import PipelineError

MODEL_NAMES = ("scratch", "logistic", "cnn", "sequential", "adaptive")
SPLITS = ("train", "valid", "test")
CLASSES = 10
# plots/<model>/train.csv: written by the train stage after each epoch, then by evaluate.
HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_accuracy"]
PICKLE_NAME = "mnist.pkl.gz"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class UnknownModelError(PipelineError, ValueError):
    """A model name that is not one of the tutorial's."""


def check_model_name(name: str) -> str:
    """``name`` if it is a model of the tutorial; else an error listing them."""
    if name not in MODEL_NAMES:
        raise UnknownModelError(f"unknown model {name!r}; valid models: {', '.join(MODEL_NAMES)}"
                                f"{did_you_mean(name, MODEL_NAMES)}")
    return name


def did_you_mean(word: object, allowed: tuple[str, ...]) -> str:
    """``"; did you mean 'lr'?"`` for a close or abbreviated match in ``allowed``, else ``""``."""
    word = str(word)
    initials = "".join(part[0] for part in word.replace("-", "_").split("_") if part)
    # Close spellings, else an abbreviation's long form: "learning_rate" for "lr".
    close = difflib.get_close_matches(word, allowed, n=1, cutoff=0.5) or [
        name for name in allowed if initials.startswith(name)]
    return f"; did you mean {close[0]!r}?" if close else ""
