"""Keep ``torch.optim`` from importing ``torch._dynamo`` in a process that never compiles.

``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time one of its methods runs, for
two things only: to wrap those methods in ``torch._dynamo.disable`` and to call
``torch._dynamo.graph_break()`` around ``step``. Outside ``torch.compile`` both do nothing: the
first only stops a compiler that is not running, the second is an empty function. Yet the import
pulls in the compiler, sympy and more: about 2 s of CPU on a small machine, paid again by every
train stage that builds an ``optim.SGD``, which is longer than some of those stages train.

:func:`install` puts a stand-in in its place that offers exactly those two functions, with
their meaning outside compilation. Anything else asked of it (``torch.compile``,
``DistributedDataParallel``, ...) imports the real ``torch._dynamo``, which then replaces the
stand-in for good: code that needs the compiler still gets it, only later. The optimizer does
the same arithmetic either way. One trace stays: the optimizer methods that already ran keep
the stand-in's ``disable`` (torch caches it on each function), so a process that installs this
and then compiles code calling them would trace into them. The train stage never compiles; it
installs the stand-in, and importing this library does not.
"""

from __future__ import annotations

import importlib
import sys
import types

NAME = "torch._dynamo"


class _StandIn(types.ModuleType):
    """``torch._dynamo`` as seen by eager-mode code: ``disable`` and ``graph_break``."""

    @staticmethod
    def disable(fn=None, recursive=True, *, reason=None, wrapping=True):
        # Outside compilation, disabling the compiler for ``fn`` leaves ``fn`` as it is.
        return fn if fn is not None else (lambda f: f)

    @staticmethod
    def graph_break(msg: str = "") -> None:
        pass  # as the real one, outside compilation

    def __getattr__(self, name: str):
        return getattr(load_real(), name)


def install() -> bool:
    """Put the stand-in in place unless ``torch._dynamo`` is already imported; True if it was."""
    if NAME in sys.modules:
        return False
    import torch

    stand_in = _StandIn(NAME, __doc__)
    sys.modules[NAME] = stand_in
    torch._dynamo = stand_in
    return True


def is_stand_in() -> bool:
    return isinstance(sys.modules.get(NAME), _StandIn)


def load_real() -> types.ModuleType:
    """The real ``torch._dynamo``, imported now if the stand-in held its place."""
    import torch

    if is_stand_in():
        del sys.modules[NAME]
        del torch._dynamo
    return importlib.import_module(NAME)
