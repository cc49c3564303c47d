"""Typed, validated, frozen view of ``params.yaml`` (pydantic models). A typo or a bad value
fails before any work, in one line naming the dotted key, the value and what is expected (the
field's ``description``): ``train.bs: got 0, expected an integer >= 1``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.names import IDX_FILES, did_you_mean

MD5 = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex digits")]
ENDPOINT = re.compile(r"^([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")


class ParamsError(PipelineError, ValueError):
    """A missing, unknown or out-of-range entry in params.yaml."""


class Section(BaseModel):
    # strict: no silent casts (1.5 is not an int, "1" is not a number, true is not 1).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# The md5 of each of the four idx files, under its file name.
IdxChecksums = create_model("IdxChecksums", __base__=Section,
                            **{key: (MD5, Field(alias=name)) for key, name in IDX_FILES.items()})


class Mirror(Section):
    """Another place for the dataset: ``mnist.pkl.gz`` (written as a plain string) or the idx
    files under a base URL or folder."""

    format: Literal["pickle", "idx"] = Field(
        description="'idx' (the four MNIST idx .gz files under url), or 'pickle'")
    url: str = Field(min_length=1, description="a non-empty URL or path")
    md5: IdxChecksums | None = Field(None, description="each idx file's md5 (format idx only)")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str) and value:
            return {"format": "pickle", "url": value}
        if not isinstance(value, dict):
            raise ValueError("a URL or path of mnist.pkl.gz, or a mapping {format: idx, url, md5}")
        return value

    @model_validator(mode="after")
    def _checksums_for_idx_only(self) -> Mirror:
        if (self.format == "idx") != (self.md5 is not None):
            raise ValueError("md5 for each idx file with format idx, and none for a pickle")
        return self


class DataParams(Section):
    url: str = Field(min_length=1, description="a non-empty string")
    mirrors: list[Mirror] | None = Field([], description="a list of mirrors")
    md5: MD5 | None = Field(None, description="32 lowercase hex digits, or null to skip it")
    size: int | None = Field(None, gt=0, description="a positive number of bytes, or null")
    timeout_s: float = Field(30.0, gt=0, description="a number > 0")
    retries: int = Field(3, ge=0, description="an integer >= 0")
    retry_backoff_s: float = Field(1.0, ge=0, description="a number >= 0")


class TrainParams(Section):
    seed: int = Field(ge=0, lt=2**63, description="an integer in [0, 2**63)")  # manual_seed's
    device: str = Field(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
                        description="one of auto, cpu, cuda, cuda:N, mps")
    bs: int = Field(ge=1, description="an integer >= 1")
    epochs: int = Field(ge=1, description="an integer >= 1")
    nproc: int = Field(1, ge=1, description="an integer >= 1")  # ranks per node
    nnodes: int = Field(1, ge=1, description="an integer >= 1")
    master: str = Field("localhost:29500", description="host:port of node 0 (port 1-65535)")
    deterministic: bool = Field(False, description="true or false")

    @property
    def ranks(self) -> int:
        return self.nproc * self.nnodes


class ModelParams(Section):
    lr: float = Field(gt=0, description="a number > 0")
    momentum: float = Field(ge=0, lt=1, description="a number in [0, 1)")


# A model's name becomes its stages' names (train@<name>) and its files' names.
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                 description="a name of letters, digits and _")]


class Params(Section):
    data: DataParams
    train: TrainParams
    # The models to train, each by a name that mnist_pipeline.variants can build.
    models: dict[ModelName, ModelParams] = Field(min_length=1,
                                                 description="a mapping of at least one model")

    def model(self, name: str) -> ModelParams:
        if name not in self.models:
            raise ParamsError(f"models.{name}: missing{did_you_mean(name, tuple(self.models))} "
                              f"(params.yaml has {', '.join(self.models)})")
        return self.models[name]


def load_params(path: str | Path = "params.yaml") -> Params:
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as err:  # the problem and where, in one line
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise ParamsError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: not UTF-8 text (byte {err.start})") from None
    return parse_params(raw or {})


def parse_params(raw: Any) -> Params:
    try:
        params = Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_message(err)) from None
    _check_across_fields(params)
    return params


def _check_across_fields(params: Params) -> None:
    scratch = params.models.get("scratch")
    if scratch is not None and scratch.momentum != 0:
        # The tutorial's hand-written update is plain SGD; there is no momentum to apply.
        raise ParamsError(f"models.scratch.momentum: got {scratch.momentum!r}, "
                          "expected 0 (the manual update has no momentum)")
    train = params.train
    found = ENDPOINT.match(train.master)
    if not (found and 1 <= int(found.group(2)) <= 65535):
        raise ParamsError(f"train.master: got {train.master!r}, expected host:port of node 0 "
                          "(port 1-65535)")
    if train.bs % train.ranks:
        raise ParamsError(f"train.bs: got {train.bs}, expected a multiple of train.nproc x "
                          f"train.nnodes ({train.ranks}): each rank takes bs / ranks rows of "
                          "every batch")


def _message(err: ValidationError) -> str:
    """The first error in one line (an unknown key first: a misspelt key is also missing)."""
    error = min(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    loc = error["loc"]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    key = key.lstrip(".") or "params.yaml"
    if loc and loc[-1] == "[key]":  # a mapping's key: a model's name
        return f"{key.removesuffix('.[key]')}: not a valid name, expected letters, digits and _"
    if error["type"] == "missing" or error["input"] is None and error["type"] == "model_type":
        return f"{key}: missing"
    if error["type"] == "extra_forbidden":
        allowed = tuple(_fields(_model_at(loc[:-1])))
        return (f"{key}: unknown key{did_you_mean(loc[-1], allowed)} "
                f"(expected {', '.join(allowed)})")
    if error["type"] == "value_error":  # a validator's own words
        expected = str(error["ctx"]["error"])
    elif error["type"] in ("model_type", "dict_type"):
        expected = "a mapping"
    else:
        field = _fields(_model_at(loc[:-1])).get(loc[-1]) if loc else None
        expected = (field.description if field and field.description
                    else error["msg"].removeprefix("Input should be "))
    return f"{key}: got {error['input']!r}, expected {expected}"


def _fields(model: type[BaseModel] | None) -> dict[str, Any]:
    """A model's fields under the names params.yaml uses (aliases where given)."""
    fields = model.model_fields.items() if model else ()
    return {field.alias or name: field for name, field in fields}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validated the value at ``loc`` (through list items, dict values
    and ``| None``), or None where there is none."""
    current: Any = Params
    for part in loc:
        fields = _fields(current) if _is_model(current) else {}
        current = fields[part].annotation if part in fields else _element(current)
    return current if _is_model(current) else _element(current)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _element(annotation: Any) -> type[BaseModel] | None:
    """The model in ``list[M]``, ``dict[str, M]``, ``M | None``, ``list[M] | None``..."""
    for arg in getattr(annotation, "__args__", ()):
        if found := arg if _is_model(arg) else _element(arg):
            return found
    return None
