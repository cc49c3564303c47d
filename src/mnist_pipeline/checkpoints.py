"""Per-epoch checkpoints, so an interrupted train stage resumes instead of starting over.

After every epoch the train stage saves the model, the optimizer (momentum buffers), the
shuffling generator and the history so far to ``.checkpoints/<model>.pt``. When the stage runs
again (``dvc repro`` after a Ctrl-C, a cancelled job, a reboot), it continues after the last
saved epoch and ends with the same model bytes as a run that was never interrupted (on the CPU).

* The file is outside DVC's outputs (git- and DVC-ignored), so the run-cache, remotes and
  ``dvc.lock`` never see it, and it is removed once the stage has written its model.
* It is keyed to the run's exact inputs: the params the stage reads, the code (every module of
  this package and the stage script), the data (a SHA-256 of the tensor files, computed on a
  background thread while torch is still importing), the torch version and thread count. A
  checkpoint whose key differs is stale: it is deleted and never resumed.
* It is written atomically, so an interruption while saving leaves the previous one intact.
* Files are written and read by this stage only, with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from mnist_pipeline.files import write_bytes
from mnist_pipeline.registry import SPLITS

log = logging.getLogger(__name__)

CHECKPOINT_DIR = Path(".checkpoints")
READ_BYTES = 1 << 24


class DataDigest:
    """SHA-256 of the tensor files, computed on a background thread.

    hashlib releases the GIL while it hashes, so this runs on another core while the main
    thread imports torch, and is ready long before the first checkpoint needs it.
    """

    def __init__(self, tensors_dir: str | Path) -> None:
        self.paths = [Path(tensors_dir) / f"{split}.safetensors" for split in SPLITS]
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="data-digest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            digest = hashlib.sha256()
            for path in self.paths:
                digest.update(path.name.encode() + b"\0")
                with open(path, "rb") as f:
                    while chunk := f.read(READ_BYTES):
                        digest.update(chunk)
            self._digest = digest.hexdigest()
        except BaseException as err:  # re-raised in the caller's thread by value()
            self._error = err

    def value(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest


def code_digest() -> str:
    """SHA-256 of this package's modules and the running script."""
    digest = hashlib.sha256()
    files = sorted(Path(__file__).parent.glob("*.py"))
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main:
        files.append(Path(main))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_key(inputs: dict[str, object], code: str, data: DataDigest) -> str:
    """The key of a run: ``inputs`` (params, versions...) plus the code and data digests."""
    payload = json.dumps({**inputs, "code": code, "data": data.value()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class Checkpoint:
    """The checkpoint file of one model's training, for one run key."""

    def __init__(self, name: str, key_of: Callable[[], str],
                 folder: Path = CHECKPOINT_DIR) -> None:
        self.path = Path(folder) / f"{name}.pt"
        self._key_of = key_of  # computed on first use: the data digest may still be running
        self._key: str | None = None
        self.saved_epoch = 0  # the last epoch on disk, 0 if none

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = self._key_of()
        return self._key

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
