"""Model files: ``models/<name>.safetensors``, the weights with the model's card as metadata (how
it was made: params, device, versions; its per-epoch history), written by the train stage, read
without torch."""

import json
from pathlib import Path

from mnist_pipeline.core.atomic import write_bytes
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.tensor_files import open_safetensors

# safetensors keeps metadata in a hash map whose order changes from run to run; one key holding
# sorted JSON keeps the file's bytes reproducible (and the values typed).
CARD_KEY = "model_card"


def save_model(path: str | Path, state: dict, card: dict[str, object]) -> None:
    """Write a model's ``state_dict()`` and its card, atomically (a model is kilobytes)."""
    from safetensors.torch import save

    tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
    write_bytes(path, save(tensors, metadata={CARD_KEY: json.dumps(card, sort_keys=True)}))


def read_card(path: str | Path, name: str | None = None) -> dict[str, object]:
    """The card in a model file (``{}`` if none); with ``name``, it must be that model's."""
    with open_safetensors(path) as f:
        raw = (f.metadata() or {}).get(CARD_KEY)
    try:
        card = json.loads(raw) if raw is not None else {}
    except ValueError as err:
        raise PipelineError(f"{path}: unreadable model card ({err})") from None
    if name is not None and card.get("model") != name:
        raise PipelineError(f"{path}: holds model {card.get('model')!r}, not {name!r}")
    return card
