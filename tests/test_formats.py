"""Reading the source formats: the restricted unpickler, idx files and validation."""

import gzip
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from mnist_pipeline.formats import (
    DatasetFormatError,
    Split,
    UnsafePickleError,
    read_pickle,
    read_source,
    validate,
)
from mnist_pipeline.synthetic import write_idx_folder, write_pickle
from mnist_pipeline.tensors import load_split, save_splits

from conftest import ROOT


class RunsCode:
    """A pickle payload that runs a shell command when loaded by plain pickle."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def hostile_pickle(path, marker):
    with gzip.open(path, "wb") as f:
        pickle.dump(RunsCode(f"touch {marker}"), f, protocol=2)
    return path


def test_pickle_round_trip_keeps_every_value(tiny_splits, tiny_pickle):
    splits = read_source(tiny_pickle)
    for name, split in tiny_splits.items():
        assert splits[name].x.dtype == np.float32 and splits[name].y.dtype == np.int64
        np.testing.assert_array_equal(splits[name].x, split.x)
        np.testing.assert_array_equal(splits[name].y, split.y)


def test_python2_style_pickle_naming_numpy_core_loads(tiny_splits, tmp_path):
    # The real file was written by Python 2 and old numpy: its globals say numpy.core.multiarray.
    data = pickle.dumps(tuple((s.x, s.y) for s in tiny_splits.values()), protocol=2)
    legacy = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert legacy != data
    path = tmp_path / "legacy.pkl.gz"
    path.write_bytes(gzip.compress(legacy))
    np.testing.assert_array_equal(read_source(path)["valid"].x, tiny_splits["valid"].x)


def test_protocol_5_pickle_loads(tiny_splits, tmp_path):
    path = tmp_path / "p5.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(
        tuple((s.x, s.y) for s in tiny_splits.values()), protocol=5)))
    np.testing.assert_array_equal(read_source(path)["test"].y, tiny_splits["test"].y)


def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = hostile_pickle(tmp_path / "evil.pkl.gz", marker)
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        read_pickle(path)
    assert not marker.exists()


def test_convert_stage_refuses_hostile_pickle_without_side_effects(tmp_path):
    marker = tmp_path / "pwned"
    path = hostile_pickle(tmp_path / "evil.pkl.gz", marker)
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages/convert.py"), str(path), "tensors"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "refusing to load global" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "tensors").exists()


def test_idx_folder_gives_the_same_tensors_as_the_pickle(tiny_splits, tiny_pickle, tmp_path):
    from_idx = read_source(write_idx_folder(tiny_splits, tmp_path / "idx"), valid_size=200)
    from_pickle = read_source(tiny_pickle)
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(from_idx[name].x, from_pickle[name].x)
        np.testing.assert_array_equal(from_idx[name].y, from_pickle[name].y)


def test_idx_wrong_magic_is_reported(tiny_splits, tmp_path):
    folder = write_idx_folder(tiny_splits, tmp_path / "idx")
    # Swap the label file in for the image file: magic 2049 where 2051 is expected.
    (folder / "train-images-idx3-ubyte.gz").write_bytes(
        (folder / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DatasetFormatError, match="magic number 2049, expected 2051"):
        read_source(folder)


def test_idx_folder_missing_a_file_is_reported(tiny_splits, tmp_path):
    folder = write_idx_folder(tiny_splits, tmp_path / "idx")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetFormatError, match="t10k-labels-idx1-ubyte.gz"):
        read_source(folder)


def good_splits(n=4):
    x = np.zeros((n, 784), np.float32)
    y = np.arange(n, dtype=np.int64)
    return {name: Split(x.copy(), y.copy()) for name in ("train", "valid", "test")}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.pop("test"), "expected splits"),
        (lambda s: s.update(train=Split(s["train"].x.astype(np.float64), s["train"].y)),
         "x must be float32"),
        (lambda s: s.update(train=Split(s["train"].x[:, :700], s["train"].y)), r"\(N, 784\)"),
        (lambda s: s.update(valid=Split(s["valid"].x + 2, s["valid"].y)), r"in \[0, 1\]"),
        (lambda s: s.update(valid=Split(s["valid"].x, s["valid"].y + 7)), "labels must be 0..9"),
        (lambda s: s.update(test=Split(s["test"].x, s["test"].y[:2])), "4 images but 2 labels"),
        (lambda s: s.update(test=Split(s["test"].x, s["test"].y.astype(np.float32))),
         "y must be 1-D integers"),
    ],
)
def test_validation_rejects_malformed_data(mutate, message):
    splits = good_splits()
    mutate(splits)
    with pytest.raises(DatasetFormatError, match=message):
        validate(splits, "src")


def test_pickle_of_the_wrong_shape_is_reported(tmp_path):
    path = tmp_path / "odd.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps((np.zeros(3), np.zeros(3)), protocol=2)))
    with pytest.raises(DatasetFormatError, match="tuple of 3"):
        read_source(path)


def test_tensor_files_round_trip(tiny_splits, tmp_path):
    save_splits(tiny_splits, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "test.safetensors", "train.safetensors", "valid.safetensors"]
    x, y = load_split(tmp_path, "valid")
    np.testing.assert_array_equal(x.numpy(), tiny_splits["valid"].x)
    np.testing.assert_array_equal(y.numpy(), tiny_splits["valid"].y)


def test_write_pickle_matches_the_real_file_layout(tiny_splits, tmp_path):
    path = write_pickle(tiny_splits, tmp_path / "m.pkl.gz")
    with gzip.open(path) as f:
        raw = f.read()
    assert raw[:2] == b"\x80\x02"  # protocol 2, as the real file


def test_tensor_files_are_what_the_safetensors_library_reads_and_writes(tiny_splits, tmp_path):
    from safetensors.numpy import load_file, save_file

    save_splits(tiny_splits, tmp_path)
    loaded = load_file(str(tmp_path / "train.safetensors"))
    np.testing.assert_array_equal(loaded["x"], tiny_splits["train"].x)
    np.testing.assert_array_equal(loaded["y"], tiny_splits["train"].y)
    # Byte for byte what the library itself writes for the same arrays.
    save_file({"x": tiny_splits["train"].x, "y": tiny_splits["train"].y},
              str(tmp_path / "reference.safetensors"))
    assert (tmp_path / "train.safetensors").read_bytes() == (
        tmp_path / "reference.safetensors").read_bytes()


def gz_pickle(path, payload_opcodes: bytes):
    """A hand-written protocol-2 pickle: what an attacker would craft, not what pickle emits."""
    path.write_bytes(gzip.compress(b"\x80\x02" + payload_opcodes + b"."))
    return path


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def test_direct_ndarray_call_is_refused(tmp_path):
    # ndarray((1,), dtype('f4'), b'AAAA'): numpy's pickles never call the class itself; with an
    # object dtype this would hand numpy a pointer chosen by the file.
    ops = (global_op("numpy", "ndarray") + b"K\x01\x85" + global_op("numpy", "dtype")
           + b"X\x02\x00\x00\x00f4\x85R" + b"C\x04AAAA\x87R")
    with pytest.raises(UnsafePickleError, match="refusing to call numpy.ndarray"):
        read_pickle(gz_pickle(tmp_path / "direct.pkl.gz", ops))


def test_object_dtype_is_refused(tmp_path):
    ops = global_op("numpy", "dtype") + b"X\x02\x00\x00\x00O8\x85R"
    with pytest.raises(UnsafePickleError, match="only numbers are allowed"):
        read_pickle(gz_pickle(tmp_path / "object.pkl.gz", ops))


def test_codecs_encode_other_than_latin1_is_refused(tmp_path):
    # Nested 'hex' encodings double the size each time: a few hundred bytes could ask for a TB.
    ops = global_op("_codecs", "encode") + b"X\x02\x00\x00\x00ffX\x03\x00\x00\x00hex\x86R"
    with pytest.raises(UnsafePickleError, match="latin1"):
        read_pickle(gz_pickle(tmp_path / "hex.pkl.gz", ops))


def test_reconstruct_with_a_huge_shape_is_refused(tmp_path):
    ops = (global_op("numpy.core.multiarray", "_reconstruct") + global_op("numpy", "ndarray")
           + b"J\x00\x00\x00\x40\x85C\x01b\x87R")
    with pytest.raises(UnsafePickleError, match="_reconstruct"):
        read_pickle(gz_pickle(tmp_path / "huge.pkl.gz", ops))


def test_nan_pixels_are_rejected():
    splits = good_splits()
    splits["train"].x[0, 0] = np.nan
    with pytest.raises(DatasetFormatError, match=r"in \[0, 1\]"):
        validate(splits, "src")
