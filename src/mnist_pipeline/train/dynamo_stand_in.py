"""Keep ``torch.optim`` from importing ``torch._dynamo`` in a process that never compiles (what
it saves: benchmarks/README.md).

The optimizer imports it only for ``disable`` and ``graph_break()``, which do nothing outside
``torch.compile``: :func:`install` puts a stand-in with just those two in its place (anything
else loads the real module). The one private torch module the project reaches into; its test
fails the day ``torch.optim`` asks it for more. Only the train stage installs it.
"""

import importlib
import sys
import types

NAME = "torch._dynamo"


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
