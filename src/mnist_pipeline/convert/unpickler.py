"""An unpickler that rebuilds numpy arrays of plain numbers, and nothing else: each allowed
global is a guard accepting only the calls numpy's own pickles make (called directly,
``numpy.ndarray`` would build an object array over the file's bytes; nested ``_codecs.encode``
'hex' calls, a memory bomb)."""

import codecs
import pickle

import numpy as np

from mnist_pipeline.core.errors import PipelineError

try:
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
    from numpy._core.numeric import _frombuffer as _numpy_frombuffer
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct
    from numpy.core.numeric import _frombuffer as _numpy_frombuffer

NUMBER_KINDS = "biuf"  # bool, signed and unsigned integers, floats


class UnsafePickleError(PipelineError, pickle.UnpicklingError):
    """The pickle asks for something beyond rebuilding numpy arrays of numbers."""


class _ArrayType:
    """Stands in for ``numpy.ndarray``: it may be handed to ``_reconstruct``, never called."""

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError("refusing to call numpy.ndarray: only array reconstruction")


ARRAY_TYPE = _ArrayType()


def _reconstruct(subtype, shape, typecode):
    if subtype is not ARRAY_TYPE or tuple(shape) != (0,) or typecode not in (b"b", "b"):
        raise UnsafePickleError("refusing a numpy _reconstruct call numpy itself never makes")
    return _numpy_reconstruct(np.ndarray, (0,), b"b")


def _number_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind not in NUMBER_KINDS or dtype.hasobject or dtype.fields is not None:
        raise UnsafePickleError(f"refusing numpy dtype {dtype}: only numbers are allowed")
    return dtype


def _dtype(spec, align=False, copy=False):
    if not isinstance(spec, str):
        raise UnsafePickleError("refusing a numpy dtype not given by its name")
    return _number_dtype(np.dtype(spec, bool(align), bool(copy)))


def _frombuffer(buffer, dtype, shape, order):
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError("refusing a numpy _frombuffer call without a dtype")
    return _numpy_frombuffer(buffer, _number_dtype(dtype), shape, order)


def _encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("refusing _codecs.encode other than str -> latin1 bytes")
    return codecs.encode(text, "latin1")


_GUARDS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): ARRAY_TYPE,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
}


class NumpyOnlyUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (as dill subclasses it), not the C one: its memo is a dict,
    where the C unpickler allocates and zeroes an array as long as the largest memo index a
    pickle names (12 bytes asking for index 2**27 took 2 GB, found by fuzzing). On MNIST's
    few, large opcodes it is as fast."""

    def find_class(self, module: str, name: str):
        guard = _GUARDS.get((module, name))
        if guard is None:
            raise UnsafePickleError(f"refusing to load global {module}.{name}: only numpy arrays "
                                    "are allowed")
        return guard
