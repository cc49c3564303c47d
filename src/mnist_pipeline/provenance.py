"""How a model was made and how it scored: the record kept in its weight file's metadata.

The train stage writes it (variant, device, seed, params, ranks, per-epoch history and the
evaluation of the trained model) as one metadata key of ``models/<name>.safetensors``, so the
record travels with the weights: through DVC's cache, remotes and run-cache, and to anyone
handed the file. It is read here without torch, for the evaluate stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from mnist_pipeline.errors import PipelineError
from mnist_pipeline.tensors import read_header

# safetensors keeps metadata in a hash map whose order changes from run to run; one key holding
# sorted JSON keeps the file's bytes reproducible (and the values typed).
METADATA_KEY = "provenance"


def encode(record: dict[str, object]) -> dict[str, str]:
    """``record`` as safetensors metadata."""
    return {METADATA_KEY: json.dumps(record, sort_keys=True)}


def read_record(path: str | Path, name: str) -> dict[str, object]:
    """The record of a weight file that must hold model ``name``."""
    record = read_metadata(path)
    if record.get("model") != name:
        raise PipelineError(f"{path}: holds model {record.get('model')!r}, not {name!r}")
    return record


def read_metadata(path: str | Path) -> dict[str, object]:
    """The record stored in a weight file; ``{}`` if it has none."""
    header, _ = read_header(path)
    raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise PipelineError(f"{path}: unreadable model record ({err})") from None
