"""What a stage's process sets at its start, before it imports torch: beside the stage scripts,
which alone call it, outside the library, so a notebook or a test that imports the library gets
plain Python. Each is kept for what it saves (``benchmarks/bench_startup.py``).

* :func:`frozen_imports`: the collector off while torch imports its ~170k objects, then those
  frozen, so it never walks them, neither during the import nor at exit.
* :func:`keep_freed_memory`: glibc's malloc keeps freed memory for the next batch.
* :func:`install_dynamo_stand_in`: ``torch.optim`` without the compiler it never uses here.
* :func:`deterministic_algorithms`: what ``train.deterministic`` asks for.
"""

import contextlib
import ctypes
import gc
import importlib
import os
import sys
import types
from collections.abc import Iterator


@contextlib.contextmanager
def frozen_imports() -> Iterator[None]:
    """For imports whose objects live as long as the process (torch's)."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


# glibc's mallopt parameters (malloc.h), and what the training keeps of freed memory.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MAPPED_FROM, KEPT = 32 << 20, 64 << 20


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for the next batch; False where there is no glibc.

    By default it maps every block of 128 kB or more afresh and hands back a free heap top of
    more than 128 kB, so a CNN's activations (hundreds of kB a batch on the CPU) fault their
    pages in again at every step. glibc raises both limits by itself once a process frees a
    large mapped block, which a training may or may not happen to do first; this sets them.
    No library does it (jemalloc or tcmalloc would, preloaded), hence ctypes."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # this process's C library
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MAPPED_FROM) and mallopt(M_TRIM_THRESHOLD, KEPT))


# ``torch.optim`` imports ``torch._dynamo`` only for ``disable`` and ``graph_break()``, which do
# nothing outside ``torch.compile``: the stand-in has just those two (anything else loads the
# real module). The one private torch module the project reaches into; its test fails the day
# ``torch.optim`` asks it for more.
DYNAMO = "torch._dynamo"


class _StandIn(types.ModuleType):
    """``torch._dynamo`` as seen by eager-mode code: ``disable`` and ``graph_break``."""

    @staticmethod
    def disable(fn=None, *args, **kwargs):
        # Outside compilation this leaves ``fn`` as it is; other arguments (those of later torch
        # versions too) only say how the compiler should skip ``fn``.
        return fn if fn is not None else (lambda f: f)

    @staticmethod
    def graph_break(*args, **kwargs) -> None:
        pass  # as the real one, outside compilation

    def __getattr__(self, name: str):
        return getattr(load_real(), name)


def install_dynamo_stand_in() -> bool:
    """Put the stand-in in place unless ``torch._dynamo`` is already imported; True if it was."""
    if DYNAMO in sys.modules:
        return False
    import torch

    stand_in = _StandIn(DYNAMO, __doc__)
    sys.modules[DYNAMO] = stand_in
    torch._dynamo = stand_in
    return True


def is_stand_in() -> bool:
    return isinstance(sys.modules.get(DYNAMO), _StandIn)


def load_real() -> types.ModuleType:
    """The real ``torch._dynamo``, imported now if the stand-in held its place."""
    import torch

    if is_stand_in():
        del sys.modules[DYNAMO]
        del torch._dynamo
    return importlib.import_module(DYNAMO)


def deterministic_algorithms() -> None:
    """PyTorch's deterministic algorithms, as its reproducibility notes give them: cuBLAS's
    fixed workspace (set before cuBLAS starts), ``use_deterministic_algorithms`` (an op that
    has none warns, naming itself), cuDNN's deterministic convolutions and no benchmarking.
    The CPU's kernels are deterministic already: the same bytes either way."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
