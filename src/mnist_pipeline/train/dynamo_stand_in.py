"""Keep ``torch.optim`` from importing ``torch._dynamo`` (~2 s) in a process that never compiles.

The optimizer imports it only to wrap its methods in ``torch._dynamo.disable`` and call
``graph_break()``, which do nothing outside ``torch.compile``. :func:`install` puts a stand-in
with just those two in its place; anything else asked of it imports the real module for good.
The one place the project touches torch's internals: its test fails the day ``torch.optim``
asks for more. The train stage installs it; importing the library does not.
"""

from __future__ import annotations

import importlib
import sys
import types

NAME = "torch._dynamo"


class _StandIn(types.ModuleType):
    """``torch._dynamo`` as seen by eager-mode code: ``disable`` and ``graph_break``."""

    @staticmethod
    def disable(fn=None, *args, **kwargs):
        # Outside compilation, disabling the compiler for ``fn`` leaves ``fn`` as it is. Any
        # other argument (recursive=, reason=, ..., and those later torch versions add) only
        # says how the compiler should skip ``fn``, which nothing compiles here.
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
