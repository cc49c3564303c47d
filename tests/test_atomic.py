"""Atomic writes: all or nothing, with ordinary file permissions."""

import os

import pytest

from mnist_pipeline.core.atomic import atomic_path, new_temporary, write_json


def test_output_mode_is_0666_less_the_umask_which_is_never_set(tmp_path, umask_027):
    write_json(tmp_path / "m.json", {"a": 1})
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o666 & ~umask_027 == 0o640


def test_a_temporary_name_in_use_is_left_alone_and_another_drawn(tmp_path, monkeypatch):
    taken = tmp_path / ".m.json.aaaa.tmp"
    taken.write_text("another writer's")
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr("mnist_pipeline.core.atomic.secrets.token_hex", lambda _: next(names))
    assert new_temporary(tmp_path / "m.json") == tmp_path / ".m.json.bbbb.tmp"
    assert taken.read_text() == "another writer's"


def test_a_failed_write_leaves_neither_output_nor_temporary(tmp_path):
    (tmp_path / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "keep.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert (tmp_path / "keep.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_the_data_is_synced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_json(tmp_path / "m.json", {"a": 1})
    assert [kind for kind, _ in events] == ["fsync", "rename", "fsync"]
    assert events[0][1].startswith(str(tmp_path / ".m.json."))  # the temporary, its data
    assert events[1][1] == str(tmp_path / "m.json")
    assert events[2][1] == str(tmp_path)  # the folder, its new entry


def test_a_write_removes_the_temporaries_a_killed_write_of_the_same_output_left(tmp_path):
    left = [tmp_path / ".m.json.k3j2x1.tmp", tmp_path / ".m.json.a_b.tmp"]
    others = [tmp_path / ".m.json2.abc.tmp", tmp_path / ".n.json.abc.tmp", tmp_path / "m.json.tmp"]
    for path in left + others:
        path.write_text("half")
    write_json(tmp_path / "m.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["m.json"] + [p.name for p in others])


def test_removing_a_checkpoint_removes_a_killed_saves_temporary(tmp_path):
    from mnist_pipeline.train.checkpoints import Checkpoint

    checkpoint = Checkpoint("cnn", "key", tmp_path / ".checkpoints")
    checkpoint.save({"history": []})
    (tmp_path / ".checkpoints" / ".cnn.pt.x1y2.tmp").write_bytes(b"half")
    checkpoint.remove()
    assert not (tmp_path / ".checkpoints").exists()
