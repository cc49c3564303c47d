"""Typed, validated view of ``params.yaml``.

Stages call :func:`load_params` first thing, so a typo or a bad value fails before any work
starts, with the key's dotted name, the value given and what is expected, e.g.
``train.bs: got 0, expected an integer >= 1`` or
``models.cnn.learning_rate: unknown key; did you mean 'lr'? (expected lr, momentum)``.

Each key is one :class:`Rule` (default, check, what is expected) in ``RULES``. pydantic would
say the same in about as many lines, but importing it costs ~0.25 s in every stage that reads
params, more than the rest of a stage's start-up besides torch.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mnist_pipeline.errors import PipelineError
from mnist_pipeline.registry import IDX_FILES, VARIANT_NAMES, check_variant_name

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MD5_PATTERN = re.compile(r"^[0-9a-f]{32}$")
ENDPOINT_PATTERN = re.compile(r"^([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")
REQUIRED = object()
IDX_FILE_NAMES = tuple(IDX_FILES.values())  # an idx mirror gives each one's md5


class ParamsError(PipelineError, ValueError):
    """A missing, unknown or out-of-range entry in params.yaml."""


@dataclass(frozen=True)
class IdxMirror:
    """A base URL (or folder) holding the four MNIST idx .gz files, with each one's md5."""

    url: str
    md5: dict[str, str]


@dataclass(frozen=True)
class DataParams:
    url: str
    mirrors: tuple[str | IdxMirror, ...]  # a string: a URL or path of mnist.pkl.gz
    md5: str | None
    size: int | None
    timeout_s: float
    retries: int
    retry_backoff_s: float


@dataclass(frozen=True)
class TrainParams:
    seed: int
    device: str
    bs: int
    epochs: int
    nproc: int = 1  # ranks per node; > 1 runs the train stage under torchrun
    nnodes: int = 1  # nodes; > 1 needs the others started by hand (see README)
    master: str = "localhost:29500"  # node 0's host:port when nnodes > 1


@dataclass(frozen=True)
class ModelParams:
    lr: float
    momentum: float


@dataclass(frozen=True)
class Params:
    data: DataParams
    train: TrainParams
    models: dict[str, ModelParams]

    def model(self, name: str) -> ModelParams:
        check_variant_name(name)
        return self.models[name]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_endpoint(value: str) -> bool:
    found = ENDPOINT_PATTERN.match(value)
    return bool(found) and 1 <= int(found.group(2)) <= 65535


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Rule:
    check: Callable[[Any], bool]
    expected: str
    default: Any = REQUIRED


def integer(minimum: int, maximum: int | None = None, default: Any = REQUIRED) -> Rule:
    if maximum is None:
        return Rule(lambda v: _is_int(v) and v >= minimum, f"an integer >= {minimum}", default)
    return Rule(lambda v: _is_int(v) and minimum <= v < maximum,
                f"an integer in [{minimum}, {maximum})", default)


def number(minimum: float, strict: bool = False, default: Any = REQUIRED) -> Rule:
    relation = ">" if strict else ">="
    return Rule(lambda v: _is_number(v) and (v > minimum if strict else v >= minimum),
                f"a number {relation} {minimum:g}", default)


MODEL_RULES = {
    "lr": number(0, strict=True),
    "momentum": Rule(lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
}
RULES: dict[str, dict[str, Rule]] = {
    "data": {
        "url": Rule(lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
        "mirrors": Rule(lambda v: v is None or isinstance(v, list), "a list of mirrors", []),
        "md5": Rule(lambda v: v is None or (isinstance(v, str) and bool(MD5_PATTERN.match(v))),
                    "32 lowercase hex digits, or null to skip the check", None),
        "size": Rule(lambda v: v is None or (_is_int(v) and v > 0),
                     "a positive number of bytes, or null", None),
        "timeout_s": number(0, strict=True, default=30),
        "retries": integer(0, default=3),
        "retry_backoff_s": number(0, default=1.0),
    },
    "train": {
        "seed": integer(0, 2**63),  # torch.manual_seed's range
        "device": Rule(lambda v: isinstance(v, str) and bool(DEVICE_PATTERN.match(v)),
                       "one of auto, cpu, cuda, cuda:N, mps"),
        "bs": integer(1),
        "epochs": integer(1),
        "nproc": integer(1, default=1),
        "nnodes": integer(1, default=1),
        "master": Rule(lambda v: isinstance(v, str) and _is_endpoint(v),
                       "host:port of node 0 (port 1-65535)", "localhost:29500"),
    },
}

MIRROR_EXPECTED = "a URL or path of mnist.pkl.gz, or a mapping {format: idx, url, md5}"
IDX_MIRROR_RULES = {
    "format": Rule(lambda v: v == "idx", "'idx' (the four MNIST idx .gz files under url)"),
    "url": Rule(lambda v: isinstance(v, str) and bool(v), "a non-empty base URL or folder"),
    "md5": Rule(lambda v: isinstance(v, dict), "a mapping of each idx file name to its md5"),
}


def load_params(path: str | Path = "params.yaml") -> Params:
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    return parse_params(_mapping(raw, "params.yaml"))


def parse_params(raw: dict[str, Any]) -> Params:
    _no_unknown_keys(raw, ("data", "train", "models"), "")
    data = _section(_mapping(raw.get("data"), "data"), RULES["data"], "data.")
    data["mirrors"] = _parse_mirrors(data["mirrors"] or [])
    train = TrainParams(**_section(_mapping(raw.get("train"), "train"), RULES["train"], "train."))
    ranks = train.nproc * train.nnodes
    if train.bs % ranks:
        raise ParamsError(f"train.bs: got {train.bs}, expected a multiple of train.nproc x "
                          f"train.nnodes ({ranks}): each rank takes bs / ranks rows of every "
                          "batch")
    return Params(DataParams(**data), train, _parse_models(_mapping(raw.get("models"), "models")))


def _parse_models(raw: dict[str, Any]) -> dict[str, ModelParams]:
    for name in raw:
        if name not in VARIANT_NAMES:
            raise ParamsError(f"models.{name}: unknown model; valid models: "
                              f"{', '.join(VARIANT_NAMES)}{_did_you_mean(name, VARIANT_NAMES)}")
    models = {}
    for name in VARIANT_NAMES:
        values = _section(_mapping(raw.get(name), f"models.{name}"), MODEL_RULES,
                          f"models.{name}.")
        if name == "scratch" and values["momentum"] != 0:
            # The tutorial's hand-written update is plain SGD; there is no momentum to apply.
            _bad("models.scratch.momentum", values["momentum"],
                 "0 (the manual update has no momentum)")
        models[name] = ModelParams(float(values["lr"]), float(values["momentum"]))
    return models


def _parse_mirrors(entries: list[Any]) -> tuple[str | IdxMirror, ...]:
    mirrors: list[str | IdxMirror] = []
    for i, entry in enumerate(entries):
        where = f"data.mirrors[{i}]"
        if isinstance(entry, str) and entry:
            mirrors.append(entry)
        elif isinstance(entry, dict):
            values = _section(entry, IDX_MIRROR_RULES, f"{where}.")
            mirrors.append(IdxMirror(values["url"], _parse_idx_md5(values["md5"], f"{where}.md5")))
        else:
            _bad(where, entry, MIRROR_EXPECTED)
    return tuple(mirrors)


def _parse_idx_md5(raw: dict[Any, Any], where: str) -> dict[str, str]:
    _no_unknown_keys(raw, IDX_FILE_NAMES, f"{where}.")
    for name in IDX_FILE_NAMES:
        if name not in raw:
            raise ParamsError(f"{where}.{name}: missing (each idx file needs its md5)")
        if not (isinstance(raw[name], str) and MD5_PATTERN.match(raw[name])):
            _bad(f"{where}.{name}", raw[name], "32 lowercase hex digits")
    return {name: raw[name] for name in IDX_FILE_NAMES}


def _section(raw: dict[str, Any], rules: dict[str, Rule], prefix: str) -> dict[str, Any]:
    _no_unknown_keys(raw, tuple(rules), prefix)
    values = {}
    for key, rule in rules.items():
        if key not in raw and rule.default is REQUIRED:
            raise ParamsError(f"{prefix}{key}: missing")
        value = raw.get(key, rule.default)
        if not rule.check(value):
            _bad(prefix + key, value, rule.expected)
        values[key] = value
    return values


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        raise ParamsError(f"{where}: missing section")
    if not isinstance(value, dict):
        _bad(where, value, "a mapping")
    return value


def _no_unknown_keys(raw: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    unknown = sorted(set(raw) - set(allowed), key=str)
    if unknown:
        key = unknown[0]
        raise ParamsError(f"{prefix}{key}: unknown key{_did_you_mean(key, allowed)} "
                          f"(expected {', '.join(allowed)})")


def _did_you_mean(key: Any, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
    if not close:  # abbreviations and long forms: "learning_rate" for "lr", "batch" for "bs"
        close = [name for name in allowed if _initials(str(key)).startswith(name)
                 or _initials(name).startswith(str(key))]
    return f"; did you mean {close[0]!r}?" if close else ""


def _initials(key: str) -> str:
    return "".join(word[0] for word in re.split(r"[_\-\s]+", key) if word)


def _bad(key: str, value: Any, expected: str) -> None:
    raise ParamsError(f"{key}: got {value!r}, expected {expected}")
