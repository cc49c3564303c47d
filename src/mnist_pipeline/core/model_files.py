"""Model files: ``models/<name>.safetensors``, the weights with the run's record as metadata
(how it was made and how it scored), written by the train stage, read without torch.
"""

import json
from pathlib import Path

from mnist_pipeline.core.atomic import write_bytes
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.tensor_files import read_metadata

# safetensors keeps metadata in a hash map whose order changes from run to run; one key holding
# sorted JSON keeps the file's bytes reproducible (and the values typed).
RECORD_KEY = "provenance"


def save_model(path: str | Path, state: dict, record: dict[str, object]) -> None:
    """Write a model's ``state_dict()`` and its record, atomically (a model is kilobytes)."""
    from safetensors.torch import save

    tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
    write_bytes(path, save(tensors, metadata={RECORD_KEY: json.dumps(record, sort_keys=True)}))


def read_record(path: str | Path, name: str | None = None) -> dict[str, object]:
    """The record in a model file (``{}`` if none); with ``name``, it must be that model's."""
    raw = read_metadata(path).get(RECORD_KEY)
    try:
        record = json.loads(raw) if raw is not None else {}
    except ValueError as err:
        raise PipelineError(f"{path}: unreadable model record ({err})") from None
    if name is not None and record.get("model") != name:
        raise PipelineError(f"{path}: holds model {record.get('model')!r}, not {name!r}")
    return record
