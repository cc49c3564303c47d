"""The names and sizes the stages share: the splits, classes and pixels, the dataset's files,
the history's columns; and the "did you mean" of a misspelt name."""

import difflib

SPLITS = ("train", "valid", "test")
CLASSES = 10
PIXELS = 28 * 28  # an image's, flattened
# A training's history, one row per epoch: on the model's card, and in plots/history.csv
HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_accuracy"]
PICKLE_NAME = "mnist.pkl.gz"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def did_you_mean(word: object, allowed: tuple[str, ...]) -> str:
    """``"; did you mean 'lr'?"`` for a close or abbreviated match in ``allowed``, else ``""``."""
    word = str(word)
    initials = "".join(part[0] for part in word.replace("-", "_").split("_") if part)
    # Close spellings, else an abbreviation's long form: "learning_rate" for "lr".
    close = difflib.get_close_matches(word, allowed, n=1, cutoff=0.5) or [
        name for name in allowed if initials.startswith(name)]
    return f"; did you mean {close[0]!r}?" if close else ""
