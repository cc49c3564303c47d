"""A handful of ``tests/lock_cuts.py``'s cuts of a real five-model ``dvc.lock``, the three ways
DVC 3.67 refuses one among them: after ``make repro``'s repair, ``dvc status`` works and
``dvc repro`` restores every finished stage from the run-cache, retrains nothing and ends with an
uninterrupted run's lock and outputs. The script (``make cuts``) tries every line boundary and
hundreds of random byte offsets."""

from __future__ import annotations

import re
from collections.abc import Callable

import lock_cuts
import pytest

pytestmark = pytest.mark.slow


def after(text: bytes, start: bytes = b"", past: int = 0) -> Callable[[bytes], int]:
    """Where to cut a lock: ``past`` bytes after the first ``text`` at or after ``start``."""
    return lambda lock: lock.index(text, lock.index(start)) + len(text) + past


def before(text: bytes, start: bytes = b"") -> Callable[[bytes], int]:
    """Where to cut a lock: just before the first ``text`` at or after ``start``."""
    return after(text, start, -len(text))


def stages_lost(lock: bytes, at: int) -> int:
    """How many stages the lock's first ``at`` bytes do not hold whole."""
    starts = [m.start() for m in re.finditer(rb"^  \S+:$", lock, re.MULTILINE)]
    return sum(end > at for end in [*starts[1:], len(lock)])


CUTS = {
    # DVC: "'./dvc.lock' is invalid." and "While scanning a simple key"
    "a key cut before its colon": (after(b"schema: '2.0'\nstages"), "repaired"),
    # DVC: "'./dvc.lock' validation failed"
    "a stage cut down to its name": (after(b"  train@logistic:"), "repaired"),
    # DVC: "ERROR: unexpected error" in dvc status; dvc repro: "ERROR: failed to reproduce
    # 'train@logistic': " with no reason (after deleting its outputs, were it a dependency's)
    "a hash name cut": (after(b"hash: m", b"- path: models/logistic.safetensors"),
                        "repaired"),
    # DVC reads these, but reruns the training (it finds no such object in its cache), or keeps
    # a lock without the model's size.
    "a cut inside an output's md5": (after(b"md5: ", b"- path: models/cnn.safetensors", 10),
                                     "repaired"),
    "a cut before an output's size": (before(b"      size:", b"- path: models/cnn.safetensors"),
                                      "repaired"),
    # DVC reads these as "changed": the run-cache restores what the lock no longer says.
    "a cut between two stages": (before(b"  train@cnn:"), "harmless"),
    "a cut between two lines": (after(b"\n", b"- path: models/sequential.safetensors"),
                                "harmless"),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return lock_cuts.finished_project(tmp_path_factory.mktemp("cuts"))


@pytest.mark.parametrize("name", CUTS)
def test_make_repro_recovers_from_a_cut_lock_with_nothing_retrained(reference, name):
    where, verdict = CUTS[name]
    at = where(reference.lock)
    cut = lock_cuts.try_cut(reference, lock_cuts.Cut(at), full_if_repaired=True)
    assert cut.problem == ""
    assert cut.verdict == verdict, cut.repaired
    # Git's copy of the lock is whole: after a repair nothing needs restoring; after a harmless
    # cut, every stage the lock lost is.
    lost = stages_lost(reference.lock, at)
    assert cut.restored == (0 if verdict == "repaired" else lost) and lost > 0
