"""Typed, validated view of ``params.yaml``.

Stages call :func:`load_params` first thing, so a typo or a bad value fails before any work
starts, with the key's dotted name and the value given.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mnist_pipeline.errors import PipelineError
from mnist_pipeline.registry import VARIANT_NAMES

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MD5_PATTERN = re.compile(r"^[0-9a-f]{32}$")


class ParamsError(PipelineError, ValueError):
    """A missing, unknown or out-of-range entry in params.yaml."""


@dataclass(frozen=True)
class DataParams:
    url: str
    mirrors: tuple[str, ...]
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


def check_variant_name(name: str) -> None:
    if name not in VARIANT_NAMES:
        raise ParamsError(f"unknown model {name!r}; valid models: {', '.join(VARIANT_NAMES)}")


def load_params(path: str | Path = "params.yaml") -> Params:
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    return parse_params(_mapping(raw, "params.yaml"))


def parse_params(raw: dict[str, Any]) -> Params:
    _no_unknown_keys(raw, {"data", "train", "models"}, "")
    return Params(
        data=_parse_data(_mapping(raw.get("data"), "data")),
        train=_parse_train(_mapping(raw.get("train"), "train")),
        models=_parse_models(_mapping(raw.get("models"), "models")),
    )


def _parse_data(raw: dict[str, Any]) -> DataParams:
    keys = {"url", "mirrors", "md5", "size", "timeout_s", "retries", "retry_backoff_s"}
    _no_unknown_keys(raw, keys, "data.")
    url = _require(raw, "url", "data.")
    if not isinstance(url, str) or not url:
        _bad("data.url", url, "a non-empty string")
    mirrors = raw.get("mirrors") or []
    if not isinstance(mirrors, list) or not all(isinstance(m, str) and m for m in mirrors):
        _bad("data.mirrors", mirrors, "a list of URLs or paths")
    md5 = raw.get("md5")
    if md5 is not None and not (isinstance(md5, str) and MD5_PATTERN.match(md5)):
        _bad("data.md5", md5, "32 lowercase hex digits, or null to skip the check")
    size = raw.get("size")
    if size is not None and not (_is_int(size) and size > 0):
        _bad("data.size", size, "a positive number of bytes, or null")
    timeout_s = _number(raw.get("timeout_s", 30), "data.timeout_s", minimum=0, strict=True)
    retries = raw.get("retries", 3)
    if not (_is_int(retries) and retries >= 0):
        _bad("data.retries", retries, "an integer >= 0")
    backoff = _number(raw.get("retry_backoff_s", 1.0), "data.retry_backoff_s", minimum=0)
    return DataParams(url, tuple(mirrors), md5, size, timeout_s, retries, backoff)


def _parse_train(raw: dict[str, Any]) -> TrainParams:
    _no_unknown_keys(raw, {"seed", "device", "bs", "epochs"}, "train.")
    seed = _require(raw, "seed", "train.")
    if not _is_int(seed) or not 0 <= seed < 2**63:  # torch.manual_seed's range
        _bad("train.seed", seed, "an integer in [0, 2**63)")
    device = _require(raw, "device", "train.")
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        _bad("train.device", device, "one of auto, cpu, cuda, cuda:N, mps")
    bs = _require(raw, "bs", "train.")
    if not _is_int(bs) or bs < 1:
        _bad("train.bs", bs, "an integer >= 1")
    epochs = _require(raw, "epochs", "train.")
    if not _is_int(epochs) or epochs < 1:
        _bad("train.epochs", epochs, "an integer >= 1")
    return TrainParams(seed, device, bs, epochs)


def _parse_models(raw: dict[str, Any]) -> dict[str, ModelParams]:
    for name in raw:
        if name not in VARIANT_NAMES:
            raise ParamsError(
                f"models.{name}: unknown model; valid models: {', '.join(VARIANT_NAMES)}"
            )
    models = {}
    for name in VARIANT_NAMES:
        entry = _mapping(raw.get(name), f"models.{name}")
        _no_unknown_keys(entry, {"lr", "momentum"}, f"models.{name}.")
        lr = _number(_require(entry, "lr", f"models.{name}."), f"models.{name}.lr", 0, True)
        momentum = _number(
            _require(entry, "momentum", f"models.{name}."), f"models.{name}.momentum", 0
        )
        if momentum >= 1:
            _bad(f"models.{name}.momentum", momentum, "a number in [0, 1)")
        if name == "scratch" and momentum != 0:
            # The tutorial's hand-written update is plain SGD; there is no momentum to apply.
            _bad("models.scratch.momentum", momentum, "0 (the manual update has no momentum)")
        models[name] = ModelParams(float(lr), float(momentum))
    return models


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        raise ParamsError(f"{where}: missing section")
    if not isinstance(value, dict):
        _bad(where, value, "a mapping")
    return value


def _require(raw: dict[str, Any], key: str, prefix: str) -> Any:
    if key not in raw:
        raise ParamsError(f"{prefix}{key}: missing")
    return raw[key]


def _no_unknown_keys(raw: dict[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ParamsError(
            f"{prefix}{unknown[0]}: unknown key; expected one of {', '.join(sorted(allowed))}"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any, key: str, minimum: float, strict: bool = False) -> float:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value < minimum or (
        strict and value == minimum
    ):
        relation = ">" if strict else ">="
        _bad(key, value, f"a number {relation} {minimum:g}")
    return float(value)


def _bad(key: str, value: Any, expected: str) -> None:
    raise ParamsError(f"{key}: got {value!r}, expected {expected}")
