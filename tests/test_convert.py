"""Reading the source formats: the restricted unpickler, idx files and validation."""

import gzip
import os
import pickle
import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import torch

from mnist_pipeline.convert.readers import (
    DatasetFormatError,
    Split,
    read_pickle,
    read_source,
    validate,
)
from mnist_pipeline.convert.unpickler import UnsafePickleError
from mnist_pipeline.core.errors import MissingInputError, PipelineError
from mnist_pipeline.core.tensor_files import as_pixel_bytes, load_split, save_splits

from conftest import ROOT
from synthetic import write_idx_folder, write_pickle


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


def test_idx_folder_converts_to_byte_identical_tensor_files(tiny_splits, tmp_path):
    # The same data written both ways, as mnist.pkl.gz was made from the idx files.
    pickle_folder = tmp_path / "pickle"
    write_pickle(tiny_splits, pickle_folder / "mnist.pkl.gz")
    idx_folder = write_idx_folder(tiny_splits, tmp_path / "idx")
    save_splits(read_source(pickle_folder), tmp_path / "from-pickle")
    save_splits(read_source(idx_folder, valid_size=200), tmp_path / "from-idx")
    for split in ("train", "valid", "test"):
        name = f"{split}.safetensors"
        assert (tmp_path / "from-idx" / name).read_bytes() == \
            (tmp_path / "from-pickle" / name).read_bytes()


def test_a_folder_holding_the_pickle_is_read_as_the_pickle(tiny_splits, tiny_pickle, tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "mnist.pkl.gz").write_bytes(tiny_pickle.read_bytes())
    np.testing.assert_array_equal(read_source(folder)["test"].x, tiny_splits["test"].x)


def test_a_folder_with_neither_format_is_a_clear_error(tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(DatasetFormatError, match="expected mnist.pkl.gz or the four MNIST idx "
                                                 "files .* it has neither"):
        read_source(tmp_path / "raw")


def test_a_missing_source_says_to_run_fetch(tmp_path):
    with pytest.raises(MissingInputError, match="raw: missing; run the fetch stage first"):
        read_source(tmp_path / "raw")




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



def test_tensor_files_round_trip_with_and_without_torch(tiny_splits, tmp_path):
    save_splits(tiny_splits, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "test.safetensors", "train.safetensors", "valid.safetensors"]
    x, y = load_split(tmp_path, "valid")
    assert x.dtype == torch.float32
    # Bit for bit: the bytes k come back as the source's k / 256.
    assert x.numpy().tobytes() == tiny_splits["valid"].x.tobytes()
    np.testing.assert_array_equal(y.numpy(), tiny_splits["valid"].y)


def test_mnist_pixels_are_stored_as_bytes_a_quarter_of_float32(tiny_splits, tmp_path):
    from safetensors.numpy import load_file

    save_splits(tiny_splits, tmp_path)
    stored = load_file(str(tmp_path / "train.safetensors"))["x"]
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored, tiny_splits["train"].x * 256)
    size = (tmp_path / "train.safetensors").stat().st_size
    assert size < tiny_splits["train"].x.nbytes / 3


@pytest.mark.parametrize("odd", [0.3, 1.0, -0.0, 1 / 512])
def test_a_value_that_is_not_a_byte_over_256_keeps_float32_bit_for_bit(
        tiny_splits, tmp_path, odd):
    splits = dict(tiny_splits)
    x = splits["test"].x.copy()
    x[3, 100] = odd
    splits["test"] = Split(x, splits["test"].y)
    assert as_pixel_bytes(x) is None
    save_splits(splits, tmp_path)
    loaded, _ = load_split(tmp_path, "test")
    assert loaded.numpy().tobytes() == x.tobytes()
    assert load_split(tmp_path, "train")[0].numpy().tobytes() == tiny_splits["train"].x.tobytes()


def test_write_pickle_matches_the_real_file_layout(tiny_splits, tmp_path):
    path = write_pickle(tiny_splits, tmp_path / "m.pkl.gz")
    with gzip.open(path) as f:
        raw = f.read()
    assert raw[:2] == b"\x80\x02"  # protocol 2, as the real file


def test_tensor_files_are_what_the_safetensors_library_reads_and_writes(tiny_splits, tmp_path):
    from safetensors.numpy import load_file, save_file

    save_splits(tiny_splits, tmp_path)
    loaded = load_file(str(tmp_path / "train.safetensors"))
    pixels = (tiny_splits["train"].x * 256).astype(np.uint8)
    np.testing.assert_array_equal(loaded["x"], pixels)
    np.testing.assert_array_equal(loaded["y"], tiny_splits["train"].y)
    # Byte for byte what the library itself writes for the same arrays.
    save_file({"x": pixels, "y": tiny_splits["train"].y},
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


# Broken files: each fails with one line naming the file and what was expected ---------------

def idx_bytes(magic: int, dims: tuple[int, ...], data: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + data


def truncated_gzip(folder, splits):
    path = write_pickle(splits, folder / "mnist.pkl.gz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path, path, r"truncated: the gzip data ends before its end marker"


def not_gzip(folder, splits):
    path = folder / "mnist.pkl.gz"
    path.write_bytes(b"PK\x03\x04 a zip archive, not gzip")
    return path, path, r"expected a gzip file \(starting 1f 8b\), got one starting b'PK\\x03"


def gzip_of_text(folder, splits):
    path = folder / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(b"# a text file, not a pickle"))
    return path, path, (r"expected a pickle of numpy arrays inside the gzip; "
                        r"unpickling failed: invalid load key, .#.")


def pickle_of_a_dict(folder, splits):
    path = folder / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps({"x": np.zeros(3)}, protocol=2)))
    return path, path, r"expected a tuple of 3 \(x, y\) splits .*, got a dict"


def pickle_of_two_arrays(folder, splits):
    path = folder / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps((np.zeros(3), np.zeros(3)), protocol=2)))
    return path, path, r"expected a tuple of 3 \(x, y\) splits .*, got a tuple of 2"


def idx_with(name: str, content: bytes, message: str):
    def build(folder, splits):
        idx = write_idx_folder(splits, folder / "idx")
        (idx / name).write_bytes(content)
        return idx, idx / name, message
    return build


NOISE = np.random.default_rng(0).integers(0, 256, 7840, dtype=np.uint8).tobytes()  # 10 images
ABSURD = gzip.compress(idx_bytes(2051, (2**32 - 1, 28, 28), bytes(784)))
BROKEN_FILES = {
    "truncated gzip": truncated_gzip,
    "not gzip": not_gzip,
    "gzip of text": gzip_of_text,
    "pickle of a dict": pickle_of_a_dict,
    "pickle of the wrong shape": pickle_of_two_arrays,
    "idx header asking for 2**32-1 images": idx_with(
        "train-images-idx3-ubyte.gz", ABSURD,
        r"header asks for 4294967295 x 28 x 28 = 3367254359280 bytes, more than a \d+-byte "
        r"gzip file can hold"),
    "idx header asking for more than the file holds": idx_with(
        "t10k-images-idx3-ubyte.gz", gzip.compress(idx_bytes(2051, (1000, 28, 28), NOISE)),
        r"header says \(1000, 28, 28\) \(784000 bytes of data\) but the file holds 7840"),
    "idx with the labels' magic": idx_with(
        "t10k-images-idx3-ubyte.gz", gzip.compress(idx_bytes(2049, (3,), bytes(3))),
        r"magic number 2049, expected 2051 \(MNIST idx images\)"),
    "idx that is not gzip": idx_with(
        "train-labels-idx1-ubyte.gz", idx_bytes(2049, (3,), bytes(3)),
        r"expected a gzip file \(starting 1f 8b\), got one starting b'\\x00\\x00\\x08"),
    "truncated idx gzip": idx_with(
        "train-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(2049, (3000,), bytes(3000)))[:30],
        r"truncated: the gzip data ends before its end marker"),
}


@pytest.mark.parametrize("broken", BROKEN_FILES.values(), ids=BROKEN_FILES.keys())
def test_a_broken_source_fails_with_one_line_naming_the_file(broken, tiny_splits, tmp_path):
    source, culprit, message = broken(tmp_path, tiny_splits)
    with pytest.raises(PipelineError) as err:
        read_source(source, valid_size=200)
    text = str(err.value)
    assert text.startswith(f"{culprit}: ") and "\n" not in text, text
    assert re.search(message, text), text


def test_an_absurd_idx_header_is_refused_before_reading_or_allocating(tiny_splits, tmp_path):
    idx = write_idx_folder(tiny_splits, tmp_path / "idx")
    (idx / "train-images-idx3-ubyte.gz").write_bytes(ABSURD)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetFormatError, match="more than a"):
            read_source(idx, valid_size=200)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # the header asked for 3.4 TB


@pytest.mark.parametrize("broken", [truncated_gzip, gzip_of_text, BROKEN_FILES[
    "idx header asking for 2**32-1 images"]], ids=["truncated", "not a pickle", "absurd idx"])
def test_convert_stage_prints_one_line_and_writes_nothing(broken, tiny_splits, tmp_path):
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    source, culprit, message = broken(raw, tiny_splits)
    folder = source if source.is_dir() else raw
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages/convert.py"), str(folder), "data/tensors",
         "plots/samples.png"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "error" in line]
    assert line.startswith(f"convert: error: {culprit}: ")
    assert re.search(message, line), line
    assert not (tmp_path / "data" / "tensors").exists()
    assert not (tmp_path / "plots").exists()


def test_a_memo_index_of_two_to_the_27_costs_no_memory(tmp_path):
    # Found by fuzzing: the C unpickler allocates and zeroes a memo array as long as the
    # largest index a pickle names (here 1 GiB of pointers); the pure-Python one keeps a dict.
    import resource

    path = gz_pickle(tmp_path / "m.pkl.gz", b"]r" + (2**27).to_bytes(4, "little"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DatasetFormatError, match="expected a tuple of 3"):
        read_source(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB


def test_an_opcode_on_the_wrong_object_is_a_format_error(tmp_path):
    # Found by fuzzing: APPEND onto a guard function raised a bare AttributeError.
    path = gz_pickle(tmp_path / "a.pkl.gz", global_op("numpy", "dtype") + b"Na")
    with pytest.raises(DatasetFormatError, match="unpickling failed"):
        read_source(path)


def one_float_pixel(value: float) -> dict[str, np.ndarray]:
    """Tensors as convert writes them, float32 ``x``, with one pixel set to ``value``."""
    x = np.zeros((2, 784), np.float32)
    x[1, 400] = value
    return {"x": x, "y": np.zeros(2, np.int64)}


@pytest.mark.parametrize(("tensors", "message"), [
    ({"x": np.zeros((2, 784), np.uint8)}, "expected tensors x and y"),
    ({"x": np.zeros((2, 700), np.uint8), "y": np.zeros(2, np.int64)}, r"x must be .* \(N, 784\)"),
    ({"x": np.zeros((2, 784), np.uint8), "y": np.zeros(3, np.int64)}, r"y must be int64 \(2,\)"),
    ({"x": np.zeros((2, 784), np.uint8), "y": np.full(2, 10, np.int64)}, "labels must be 0..9"),
    ({"x": np.full((2, 784), 2, np.float32), "y": np.zeros(2, np.int64)}, r"lie in \[0, 1\]"),
    # Every comparison with NaN is false: a check for values outside [0, 1] would let it pass.
    *[(one_float_pixel(value), r"lie in \[0, 1\]") for value in (np.nan, np.inf, -np.inf)],
])
def test_a_tensor_file_convert_did_not_write_is_refused_in_one_line(tmp_path, tensors, message):
    from safetensors.numpy import save_file

    save_file(tensors, str(tmp_path / "valid.safetensors"))
    with pytest.raises(PipelineError, match=message):
        load_split(tmp_path, "valid")


def test_a_file_that_is_not_safetensors_is_refused_in_one_line(tmp_path):
    (tmp_path / "valid.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(PipelineError, match="not a safetensors file"):
        load_split(tmp_path, "valid")
