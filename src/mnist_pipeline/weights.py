"""Model weight files: ``models/<name>.safetensors`` with the run's provenance as metadata.

The metadata (variant, device, seed, epochs, batch size, lr, momentum, per-epoch history)
travels with the weights, so the evaluate stage and anyone handed the file can tell how it was
made. Files are written atomically and loaded without pickle.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mnist_pipeline.errors import MissingInputError, PipelineError
from mnist_pipeline.files import atomic_path
from mnist_pipeline.models import build_model

# safetensors keeps metadata in a hash map whose order changes from run to run; one key holding
# sorted JSON keeps the file's bytes reproducible (and the values typed).
METADATA_KEY = "provenance"


def save_weights(path: str | Path, model, metadata: dict[str, object]) -> None:
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={METADATA_KEY: json.dumps(metadata, sort_keys=True)})


def read_metadata(path: str | Path) -> dict[str, object]:
    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def load_weights(name: str, path: str | Path, device: torch.device | str = "cpu"):
    """Build variant ``name`` and load its weights from ``path``; returns ``(model, metadata)``."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: missing; run the train stage first")
    metadata = read_metadata(path)
    if metadata.get("model") != name:
        raise PipelineError(f"{path}: holds model {metadata.get('model')!r}, not {name!r}")
    model = build_model(name, device)
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model, metadata
