"""Every parser of untrusted bytes, fuzzed with Hypothesis from valid seeds: the gzip +
restricted-unpickler path, the idx reader, the tensor files' loading and ``params.yaml``.

The property, for every input: a result that passes validation, or one ``PipelineError`` line;
never another exception, never code run (each hostile payload would create a marker file),
never more than ``MEMORY_LIMIT`` allocated or ``TIME_LIMIT_S`` spent. The seeds are mutated by
bit flips, byte changes, truncations, insertions and deletions, with extra tokens for each
format: pickle opcodes and globals of every kind, idx header fields at their extremes,
safetensors header fields at theirs, YAML values and aliases.

CI runs the ``ci`` profile (300 inputs a parser); ``make fuzz`` runs ``fuzz`` (10,000 each) and
prints Hypothesis' statistics: ``HYPOTHESIS_PROFILE=fuzz pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import atexit
import copy
import gzip
import json
import math
import os
import pickle
import shutil
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mnist_pipeline.convert.readers import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    PIXELS,
    read_idx,
    read_source,
)
from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.names import CLASSES
from mnist_pipeline.core.params import load_params
from mnist_pipeline.core.tensor_files import load_split, save_splits

from conftest import ROOT
from synthetic import make_splits

settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=10_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MEMORY_LIMIT = 64 * 2**20  # resident memory an input may add
TIME_LIMIT_S = 5.0  # per input, generous for a loaded CI machine
WORK = Path(tempfile.mkdtemp(prefix="fuzz-"))
# Made at import, as the hostile payloads below name a file in it; removed when pytest exits,
# whether this module's tests ran, failed or were deselected.
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
MARKER = WORK / "code-ran"  # every hostile payload below would create it
SPLITS = make_splits(12, 4, 4, seed=2)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def parsed_within_limits(parse, path: Path):
    """``parse(path)``: its result, or ``None`` for one-line PipelineError; anything else, or a
    limit passed, fails the example. Memory is the resident peak (what an OOM kill counts):
    Linux resets it through /proc/self/clear_refs."""
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    try:
        result = parse(path)
    except PipelineError as err:
        assert "\n" not in str(err), f"a PipelineError of several lines: {err}"
        event(f"refused: {type(err).__name__}")
        result = None
    finally:
        seconds = time.perf_counter() - start
        grown = (_status_kib("VmHWM") - before) * 1024
    assert not MARKER.exists(), "a hostile payload ran"
    assert grown <= MEMORY_LIMIT, f"{grown / 2**20:.0f} MiB more resident for one input"
    assert seconds <= TIME_LIMIT_S, f"{seconds:.1f} s for one input"
    if result is not None:
        event("accepted")
    return result


@st.composite
def mutated(draw, seed: bytes, tokens: tuple[bytes, ...] = ()) -> bytes:
    """``seed`` after one to four random edits, some inserting one of ``tokens``."""
    data = bytearray(seed)
    kinds = ["flip", "byte", "truncate", "insert", "delete"] + (["token"] * 3 if tokens else [])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(tokens))
    return bytes(data)


def written(name: str, data: bytes) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


# --- mnist.pkl.gz: gzip, then the restricted unpickler, then validation ---------------------

def _string(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


TOUCH = f"touch {MARKER}"
CODE = f"open({str(MARKER)!r}, 'w')"
HOSTILE_CALLS = [  # (module, name, argument): each would create MARKER if it were called
    ("os", "system", TOUCH), ("posix", "system", TOUCH), ("subprocess", "getoutput", TOUCH),
    ("builtins", "eval", CODE), ("builtins", "exec", CODE), ("__builtin__", "eval", CODE),
    ("builtins", "open", str(MARKER)), ("pathlib", "Path.touch", str(MARKER)),
    ("numpy", "load", str(MARKER)), ("numpy.lib.npyio", "load", str(MARKER)),
    ("numpy.core.multiarray", "_reconstruct", TOUCH), ("numpy", "ndarray", TOUCH),
    ("numpy.core.multiarray", "scalar", TOUCH), ("numpy", "dtype", "O"),
    ("_codecs", "encode", TOUCH), ("numpy.core.numeric", "_frombuffer", TOUCH),
    ("copyreg", "_reconstructor", TOUCH), ("operator", "attrgetter", "system"),
]


def hostile_payload(module: str, name: str, argument: str) -> bytes:
    """``module.name(argument)`` as protocol-2 opcodes, by GLOBAL or STACK_GLOBAL."""
    return (b"c" + f"{module}\n{name}\n".encode() + b"(" + _string(argument) + b"tR")


PICKLE_TOKENS = tuple(
    [hostile_payload(*call) for call in HOSTILE_CALLS]
    + [_string(module) + _string(name) + b"\x93" for module, name, _ in HOSTILE_CALLS[:6]]
    + [b"(", b")", b"t", b"R", b"b", b"\x81", b"o", b".", b"0", b"2", b"]", b"e", b"a",
       b"}", b"s", b"N", b"\x88", b"\x89", b"\x85", b"\x86", b"\x87", b"q\x01", b"h\x01",
       b"j\xff\xff\xff\x7f", b"B\xff\xff\xff\x7f", b"C\xff", b"T\xff\xff\xff\x7f",
       b"X\xff\xff\xff\xff", b"\x8a\xff" + b"\x01" * 8, b"\x8b\xff\xff\xff\x7f",
       b"J\xff\xff\xff\x7f", b"K\x00", b"M\xff\xff", b"\x80\x05", b"\x95" + b"\xff" * 8,
       b"I99999999999999999999\n", b"L-1L\n", b"F1e400\n", b"S'x'\n", b"i os\nsystem\n"])


PICKLE_SEED = pickle.dumps(tuple((SPLITS[s].x, SPLITS[s].y) for s in SPLITS), protocol=2)
GZIP_SEED = gzip.compress(PICKLE_SEED, compresslevel=1)


def valid_splits(splits) -> None:
    """What read_source promises when it returns."""
    assert set(splits) == {"train", "valid", "test"}
    for split in splits.values():
        assert split.x.dtype == np.float32 and split.x.ndim == 2 and split.x.shape[1] == PIXELS
        assert split.y.dtype == np.int64 and len(split.y) == len(split.x) > 0
        assert split.x.min() >= 0 and split.x.max() <= 1
        assert split.y.min() >= 0 and split.y.max() < CLASSES


@st.composite
def pickle_files(draw) -> bytes:
    layer = draw(st.sampled_from(["pickle", "gzip", "both", "payload"]))
    if layer == "payload":  # a hostile call alone, or inside the real pickle's opcodes
        payload = hostile_payload(*draw(st.sampled_from(HOSTILE_CALLS)))
        at = draw(st.integers(2, len(PICKLE_SEED) - 1))
        body = draw(st.sampled_from([b"\x80\x02" + payload + b".",
                                     PICKLE_SEED[:at] + payload + PICKLE_SEED[at:]]))
        return gzip.compress(body, compresslevel=1)
    body = draw(mutated(PICKLE_SEED, PICKLE_TOKENS)) if layer != "gzip" else PICKLE_SEED
    compressed = gzip.compress(body, compresslevel=1)
    return draw(mutated(compressed)) if layer != "pickle" else compressed


@given(pickle_files())
def test_fuzz_mnist_pickle(data):
    splits = parsed_within_limits(read_source, written("mnist.pkl.gz", data))
    if splits is not None:
        valid_splits(splits)


# --- the idx files ---------------------------------------------------------------------------

EXTREMES = [0, 1, 2, 27, 28, 29, 255, 2**16, 2**24, 2**31 - 1, 2**31, 2**32 - 1]
IMAGES = (SPLITS["train"].x[:6] * 256).astype(np.uint8).tobytes()
LABELS = SPLITS["train"].y[:6].astype(np.uint8).tobytes()


@st.composite
def idx_files(draw) -> tuple[bytes, int]:
    images = draw(st.booleans())
    magic = IDX_IMAGES_MAGIC if images else IDX_LABELS_MAGIC
    dims = [6, 28, 28] if images else [6]
    if draw(st.booleans()):  # header fields at their extremes
        dims = [draw(st.sampled_from(EXTREMES + [d])) for d in dims]
        dims = dims[: draw(st.integers(0, len(dims)))] if draw(st.booleans()) else dims
    found = draw(st.sampled_from([magic, magic ^ 1, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC,
                                  (magic & ~0xFF) | draw(st.integers(0, 255))]))
    raw = found.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    raw += IMAGES if images else LABELS
    if draw(st.booleans()):
        raw = draw(mutated(raw))
    compressed = gzip.compress(raw, compresslevel=1)
    return (draw(mutated(compressed)) if draw(st.booleans()) else compressed), magic


@given(idx_files())
def test_fuzz_idx_file(case):
    data, magic = case
    array = parsed_within_limits(lambda p: read_idx(p, magic), written("f-idx.gz", data))
    if array is not None:
        assert array.dtype == np.uint8
        assert array.ndim == (3 if magic == IDX_IMAGES_MAGIC else 1)
        if magic == IDX_IMAGES_MAGIC:
            assert array.shape[1:] == (28, 28)


# --- the tensor files ------------------------------------------------------------------------

TENSOR_DIR = WORK / "seed-tensors"
save_splits(SPLITS, TENSOR_DIR)
TENSOR_SEED = (TENSOR_DIR / "valid.safetensors").read_bytes()
DTYPES = ["U8", "I8", "U16", "I16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64",
          "BOOL", "F8_E4M3", "x", ""]


@st.composite
def tensor_files(draw) -> bytes:
    (length,) = struct.unpack("<Q", TENSOR_SEED[:8])
    header, body = json.loads(TENSOR_SEED[8:8 + length]), TENSOR_SEED[8 + length:]
    if draw(st.booleans()):  # header fields at their extremes
        key = draw(st.sampled_from(sorted(header)))
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "drop"]))
        if key == "__metadata__" or field == "drop":
            header.pop(key)
        elif field == "dtype":
            header[key]["dtype"] = draw(st.sampled_from(DTYPES))
        else:
            values = header[key][field]
            index = draw(st.integers(0, len(values)))
            value = draw(st.sampled_from(EXTREMES + [-1, 2**64 - 1, 784, 4]))
            values[index:index + 1] = [value] if draw(st.booleans()) else []
    raw = json.dumps(header).encode()
    data = struct.pack("<Q", len(raw)) + raw + body
    if draw(st.booleans()):
        data = draw(mutated(data, (b'"', b"{", b"}", b"[", b"]", b",", b":", b"-1", b"1e999",
                                   struct.pack("<Q", 2**63))))
    return data


def loaded(folder: Path):
    return load_split(folder, "valid")


loaded(TENSOR_DIR)  # torch's import, once, before any input is measured


@given(tensor_files())
def test_fuzz_tensor_file(data):
    folder = WORK / "tensors"
    folder.mkdir(exist_ok=True)
    written("tensors/valid.safetensors", data)
    result = parsed_within_limits(loaded, folder)
    if result is not None:
        x, y = result
        assert x.dtype.is_floating_point and x.ndim == 2 and x.shape[1] == PIXELS
        assert len(y) == len(x) > 0 and str(y.dtype) == "torch.int64"
        assert float(x.min()) >= 0 and float(x.max()) <= 1
        assert int(y.min()) >= 0 and int(y.max()) < CLASSES


# --- params.yaml -----------------------------------------------------------------------------

PARAMS_SEED = (ROOT / "params.yaml").read_bytes()
PARAMS = yaml.safe_load(PARAMS_SEED)
ODD_VALUES = [None, True, False, 0, -1, 1, 2**64, -(2**63), 1e308, math.inf, math.nan, "",
              "cuda:99", "auto", "x" * 10_000, [], {}, [1, 2], {"a": 1}, 0.5, "0.5",
              "localhost:0", "[::1]:29500", "bad host:1"]
BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    .encode() for i in range(8))


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


PARAM_PATHS = list(_paths(PARAMS))


@st.composite
def params_files(draw) -> bytes:
    kind = draw(st.sampled_from(["value", "bytes", "bomb", "both"]))
    if kind == "bomb":  # a billion laughs: aliases of aliases, under a real key or alone
        where = draw(st.sampled_from([b"", b"data:\n  mirrors: *i\n", b"models: *i\n"]))
        return BOMB + where
    params = json.loads(json.dumps(PARAMS))  # a deep copy
    if kind in ("value", "both"):
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(PARAM_PATHS))
            node = params
            try:
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change removed the path
    text = yaml.safe_dump(params, sort_keys=False).encode() if kind != "bytes" else PARAMS_SEED
    return draw(mutated(text, (b": ", b"\n  ", b"- ", b"&a ", b"*a", b"!!python/object:os.system",
                               b"\t", b"\xff", b"{", b"[", b"%YAML 9.9\n", b"---\n"))) \
        if kind in ("bytes", "both") else text


@given(params_files())
def test_fuzz_params_yaml(data):
    params = parsed_within_limits(load_params, written("params.yaml", data))
    if params is not None:
        assert params.train.bs >= 1 and params.train.epochs >= 1
        assert all(math.isfinite(params.model(name).lr) and params.model(name).lr > 0
                   for name in params.models)


def test_the_seeds_themselves_are_accepted():
    """The mutations start from inputs each parser accepts, so mutants probe real code."""
    valid_splits(read_source(written("seed.pkl.gz", GZIP_SEED)))
    assert load_split(TENSOR_DIR, "valid")[0].shape == (4, PIXELS)
    assert load_params(written("seed-params.yaml", PARAMS_SEED)).train.bs == 64
    images = gzip.compress(IDX_IMAGES_MAGIC.to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in (6, 28, 28)) + IMAGES)
    assert read_idx(written("seed-idx.gz", images), IDX_IMAGES_MAGIC).shape == (6, 28, 28)


pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                                reason="measures each input's peak memory through Linux's /proc")


@pytest.fixture(autouse=True)
def _no_marker_before():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists()
