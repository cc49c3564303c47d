"""Model weight files: ``models/<name>.safetensors`` with the run's record as metadata.

The record (see ``provenance``: variant, device, seed, params, per-epoch history, evaluation)
travels with the weights, so the evaluate stage and anyone handed the file can tell how it was
made and how it scored. Files are written atomically and loaded without pickle.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save

from mnist_pipeline.errors import MissingInputError
from mnist_pipeline.files import write_bytes
from mnist_pipeline.models import build_model
from mnist_pipeline.provenance import encode, read_record


def save_weights(path: str | Path, model, metadata: dict[str, object]) -> None:
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    write_bytes(path, save(state, metadata=encode(metadata)))  # a model is kilobytes


def load_weights(name: str, path: str | Path, device: torch.device | str = "cpu"):
    """Build variant ``name`` and load its weights from ``path``; returns ``(model, metadata)``."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: missing; run the train stage first")
    metadata = read_record(path, name)
    model = build_model(name, device)
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model, metadata
