"""Per-epoch checkpoints (``.checkpoints/<model>.pt``), so an interrupted train stage resumes to
the same bytes: written atomically, removed as its last step, keyed to the run's inputs
(params, code, data, torch version, threads) so that no other run's is ever resumed."""

import contextlib
import hashlib
import io
import json
import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch

from mnist_pipeline.core.atomic import remove_temporaries, write_bytes
from mnist_pipeline.core.errors import MissingInputError
from mnist_pipeline.core.names import SPLITS

log, CHECKPOINT_DIR = logging.getLogger(__name__), Path(".checkpoints")


def data_digest(tensors_dir: str | Path) -> Future[str]:
    """SHA-256 of the tensor files, hashed on another thread (hashlib releases the GIL)."""
    return ThreadPoolExecutor(1, thread_name_prefix="data-digest").submit(_sha256, tensors_dir)


def _sha256(tensors_dir: str | Path) -> str:
    digest = hashlib.sha256()
    for path in (Path(tensors_dir) / f"{split}.safetensors" for split in SPLITS):
        if not path.is_file():
            raise MissingInputError(f"{path}: missing; run the convert stage first")
        with open(path, "rb") as f:
            digest.update(path.name.encode() + hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def code_digest() -> str:  # SHA-256 of the package's modules, the running script and those
    package = Path(__file__).parents[1]  # beside it (stages/startup.py: what training runs under)
    files = [(str(path.relative_to(package)), path) for path in sorted(package.rglob("*.py"))]
    if main := getattr(sys.modules.get("__main__"), "__file__", None):
        files += [(path.name, path) for path in sorted(Path(main).parent.glob("*.py"))]
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_key(inputs: dict[str, object]) -> str:  # a run's inputs, hashed
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


class Checkpoint:
    """The checkpoint file of one model's training, for one run key."""

    def __init__(self, name: str, key: str, folder: Path = CHECKPOINT_DIR) -> None:
        self.path, self.key = Path(folder) / f"{name}.pt", key

    def load(self) -> dict | None:  # this very run's state; a stale or damaged one goes
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"holds a {type(state).__name__}, not a dict")
        except Exception as err:  # a damaged file is stale too: never resume from it
            log.warning("%s: unreadable checkpoint (%s); starting from scratch", self.path, err)
        else:
            if state.get("key") == self.key:
                return state
            log.info("%s: made with other params, code or data; starting from scratch", self.path)
        self.remove()
        return None

    def save(self, state: dict) -> None:
        buffer = io.BytesIO()
        torch.save({**state, "key": self.key}, buffer)
        write_bytes(self.path, buffer.getbuffer())

    def resume_hint(self) -> str:
        """What a stopped run leaves, read from the disk (the stop may have come in a save)."""
        with contextlib.suppress(Exception):
            saved = len(torch.load(self.path, map_location="cpu", weights_only=True)["history"])
            epochs = "epoch 1 is" if saved == 1 else f"epochs 1-{saved} are"
            return f"{epochs} saved in {self.path}: run `dvc repro` again to resume"
        return "no checkpoint is left: the next run starts from scratch"

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        remove_temporaries(self.path)  # of a save cut short by a SIGKILL
        with contextlib.suppress(OSError):  # only if no other model's checkpoint is left
            self.path.parent.rmdir()


def resume(checkpoint: Checkpoint | None, model, opt, shuffle, ranks, epochs: int) -> list[dict]:
    """The epochs (of ``epochs``) rank 0's checkpoint holds, as rows (none without one); its
    model, optimizer and shuffling generator loaded on every rank."""
    saved = ranks.from_main(checkpoint.load() if checkpoint is not None else None)
    if saved is None:
        return []
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    shuffle.set_state(saved["generator"])
    if checkpoint is not None:
        log.info("resuming after epoch %d/%d from %s", len(saved["history"]), epochs,
                 checkpoint.path)
    return saved["history"]
