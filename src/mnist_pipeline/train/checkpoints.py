"""Per-epoch checkpoints (``.checkpoints/<model>.pt``: model, optimizer, shuffling generator,
history), so an interrupted train stage resumes to the same bytes. Written atomically, removed
with the model written; keyed to the run's params, code, data, torch version and threads, so
a checkpoint of other inputs is never resumed.
"""

import contextlib
import hashlib
import io
import json
import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from mnist_pipeline.core.atomic import remove_temporaries, write_bytes
from mnist_pipeline.core.errors import MissingInputError
from mnist_pipeline.core.names import SPLITS
from mnist_pipeline.train.monitor import EpochStats
from mnist_pipeline.train.ranks import Ranks

log = logging.getLogger(__name__)

CHECKPOINT_DIR = Path(".checkpoints")


def data_digest(tensors_dir: str | Path) -> Future[str]:
    """SHA-256 of the tensor files, hashed on another thread: hashlib releases the GIL, so it
    runs on another core while this one sets up the training."""
    paths = [Path(tensors_dir) / f"{split}.safetensors" for split in SPLITS]
    return ThreadPoolExecutor(1, thread_name_prefix="data-digest").submit(_sha256, paths)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if not path.is_file():
            raise MissingInputError(f"{path}: missing; run the convert stage first")
        with open(path, "rb") as f:
            digest.update(path.name.encode() + hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def code_digest() -> str:
    """SHA-256 of every module of the package and the running script."""
    package = Path(__file__).parents[1]
    files = [(str(path.relative_to(package)), path) for path in sorted(package.rglob("*.py"))]
    if main := getattr(sys.modules.get("__main__"), "__file__", None):
        files.append((Path(main).name, Path(main)))
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_key(inputs: dict[str, object], code: str, data: Future[str]) -> str:
    """The key of a run: ``inputs`` (params, versions...) plus the code and data digests."""
    payload = json.dumps({**inputs, "code": code, "data": data.result()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class Checkpoint:
    """The checkpoint file of one model's training, for one run key."""

    def __init__(self, name: str, key: str, folder: Path = CHECKPOINT_DIR) -> None:
        self.path, self.key = Path(folder) / f"{name}.pt", key
        self.saved_epoch = 0  # the last epoch on disk, 0 if none

    def load(self) -> dict | None:
        """The saved state of this very run, or ``None``; a stale checkpoint is deleted."""
        if not self.path.is_file():
            return None
        import torch

        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"holds a {type(state).__name__}, not a dict")
        except Exception as err:  # a damaged file is stale too: never resume from it
            log.warning("%s: unreadable checkpoint (%s); starting from scratch", self.path, err)
            self.remove()
            return None
        if state.get("key") != self.key:
            log.info("%s: made with other params, code or data; starting from scratch",
                     self.path)
            self.remove()
            return None
        self.saved_epoch = len(state["history"])
        return state

    def save(self, state: dict) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save({**state, "key": self.key}, buffer)
        write_bytes(self.path, buffer.getbuffer())
        self.saved_epoch = len(state["history"])

    def resume_hint(self) -> str:
        """What a stopped run leaves for the next one."""
        if not self.saved_epoch:
            return "no epoch had finished: the next run starts from scratch"
        epochs = "epoch 1 is" if self.saved_epoch == 1 else f"epochs 1-{self.saved_epoch} are"
        return f"{epochs} saved in {self.path}: run `dvc repro` again to resume"

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        remove_temporaries(self.path)  # of a save cut short by a SIGKILL
        with contextlib.suppress(OSError):  # only if no other model's checkpoint is left
            self.path.parent.rmdir()


def resume(checkpoint: Checkpoint | None, model, opt, shuffle, ranks: Ranks,
           epochs: int) -> list[EpochStats]:
    """The epochs rank 0's checkpoint holds (none without one), its model, optimizer and
    shuffling generator loaded on every rank."""
    saved = ranks.from_main(checkpoint.load() if checkpoint is not None else None)
    if saved is None:
        return []
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    shuffle.set_state(saved["generator"])
    if checkpoint is not None:
        log.info("resuming after epoch %d/%d from %s", len(saved["history"]), epochs,
                 checkpoint.path)
    return [EpochStats(**row) for row in saved["history"]]
