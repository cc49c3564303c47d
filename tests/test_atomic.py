"""Atomic writes: all or nothing, with ordinary file permissions."""

import os

import pytest

from mnist_pipeline.core.atomic import atomic_path, write_json


def test_output_gets_the_umask_mode_not_mkstemps_private_one(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_neither_output_nor_temporary(tmp_path):
    (tmp_path / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "keep.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert (tmp_path / "keep.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
