"""Per-epoch checkpoints (``.checkpoints/<model>.pt``), so an interrupted train stage resumes.

Model, optimizer, shuffling generator and history, saved atomically after every epoch and
removed once the model is written; a resumed run ends with the same bytes. Keyed to the run's
params, code, data, torch version and threads: a checkpoint of other inputs is never resumed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from mnist_pipeline.core.atomic import write_bytes
from mnist_pipeline.core.names import SPLITS

log = logging.getLogger(__name__)

CHECKPOINT_DIR = Path(".checkpoints")
READ_BYTES = 1 << 24


def data_digest(tensors_dir: str | Path) -> Future[str]:
    """SHA-256 of the tensor files, hashed on another thread: hashlib releases the GIL, so it
    runs on another core while the main thread imports torch."""
    def sha256() -> str:
        digest = hashlib.sha256()
        for split in SPLITS:
            path = Path(tensors_dir) / f"{split}.safetensors"
            digest.update(path.name.encode() + b"\0")
            with open(path, "rb") as f:
                while chunk := f.read(READ_BYTES):
                    digest.update(chunk)
        return digest.hexdigest()

    pool = ThreadPoolExecutor(1, thread_name_prefix="data-digest")
    future = pool.submit(sha256)
    pool.shutdown(wait=False)  # the hash runs on; the future holds its result or its error
    return future


def code_digest() -> str:
    """SHA-256 of every module of the package and the running script."""
    package = Path(__file__).parents[1]
    files = sorted(package.rglob("*.py"))
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main:
        files.append(Path(main))
    digest = hashlib.sha256()
    for path in files:
        name = path.relative_to(package) if path.is_relative_to(package) else path.name
        digest.update(str(name).encode() + b"\0" + path.read_bytes())
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

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only if no other model's checkpoint is left
            self.path.parent.rmdir()
