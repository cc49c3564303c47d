"""What a stage's process sets at its start (``stages/startup.py``): each does what it is
kept for, and changes no result."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import sys, torch
install = sys.argv[1] == "stand-in"
if install:
    import startup
    assert startup.install_dynamo_stand_in()
torch.manual_seed(0)
model = torch.nn.Linear(784, 10)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for _ in range(5):
    loss = torch.nn.functional.cross_entropy(model(torch.rand(64, 784)), torch.arange(64) % 10)
    loss.backward()
    opt.step()
    opt.zero_grad()
compiler_loaded = "torch._dynamo.eval_frame" in sys.modules
torch.save({"weight": model.weight, "bias": model.bias}, sys.argv[2])
if install:
    assert not compiler_loaded, "torch._dynamo was imported"
    # Anything beyond disable/graph_break brings in the real module, for good.
    assert torch._dynamo.config is not None and "torch._dynamo.eval_frame" in sys.modules
    import startup
    assert not startup.is_stand_in()
else:  # what the stand-in saves: plain optim.SGD does import the compiler
    assert compiler_loaded, "optim.SGD no longer imports torch._dynamo"
"""


STAGES = {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "stages")}  # startup's folder


def run(mode, out):
    return subprocess.run([sys.executable, "-c", SCRIPT, mode, str(out)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **STAGES})


def test_sgd_steps_are_identical_and_the_compiler_is_not_imported(tmp_path):
    import torch

    with_stand_in = run("stand-in", tmp_path / "a.pt")
    assert with_stand_in.returncode == 0, with_stand_in.stderr
    plain = run("plain", tmp_path / "b.pt")
    assert plain.returncode == 0, plain.stderr
    a, b = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_the_stand_in_takes_any_arguments_a_later_torch_may_pass():
    from startup import _StandIn

    def step():
        pass

    assert _StandIn.disable(step) is step
    assert _StandIn.disable(step, False, reason="optimizer", an_argument_of_torch_3=1) is step
    assert _StandIn.disable(recursive=False)(step) is step
    assert _StandIn.graph_break("msg", an_argument_of_torch_3=1) is None


def test_frozen_imports_freezes_what_was_made_inside_and_turns_the_collector_back_on():
    import gc

    from startup import frozen_imports

    before = gc.get_freeze_count()
    try:
        with pytest.raises(ImportError), frozen_imports():
            made = [[i] for i in range(1000)]  # objects the collector tracks
            assert not gc.isenabled()
            import mnist_pipeline.no_such_module  # noqa: F401
        assert gc.isenabled()  # even when an import inside fails
        assert gc.get_freeze_count() >= before + len(made)
    finally:
        gc.unfreeze()


# Page faults of allocating 8 MiB a second time, after one such block was allocated, touched and
# freed: what a CNN's activations do at every step.
FAULTS = r"""
import ctypes, resource, sys
if sys.argv[1] == "kept":
    from startup import keep_freed_memory
    assert keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 8 << 20
for attempt in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    libc.free(block)
print(faults)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_kept_for_the_next_block_of_its_size():
    def faults(mode: str) -> int:
        return int(subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True,
                                  env={**os.environ, **STAGES},
                                  text=True, check=True).stdout)

    pages = (8 << 20) // 4096
    # glibc's default: the first freed block was mapped and unmapped, the second comes from
    # the heap, fresh: every page faults in again. Kept: the heap's pages are reused.
    assert faults("default") > pages / 2
    assert faults("kept") < pages / 20


# The train stage run as DVC runs it, saying what PyTorch was set to when training started.
WATCHED_STAGE = """
import os, runpy, sys, torch
import mnist_pipeline.train.training as training
real = training.train_model
def watched(*args, **kwargs):
    print("set:", torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
          torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"), flush=True)
    return real(*args, **kwargs)
training.train_model = watched
sys.path.insert(0, os.path.dirname(sys.argv[1]))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_deterministic_algorithms_are_set_on_request_and_keep_the_cpus_bytes(tiny_splits,
                                                                               tmp_path):
    # train.deterministic asks PyTorch for its deterministic algorithms (in the stage's own
    # process); the CPU's kernels are deterministic already: the same weights either way.
    import yaml
    from safetensors.torch import load_file

    from mnist_pipeline.core.model_files import read_card
    from mnist_pipeline.core.tensor_files import save_splits

    from conftest import ROOT

    save_splits(tiny_splits, tmp_path / "tensors")
    weights = {}
    for deterministic in (False, True):
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["train"].update(device="cpu", epochs=1, bs=32, deterministic=deterministic)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        out = tmp_path / f"cnn-{deterministic}.safetensors"
        env = {key: value for key, value in os.environ.items()
               if key != "CUBLAS_WORKSPACE_CONFIG"}
        stage = [str(ROOT / "stages" / "train.py"), "cnn", str(tmp_path / "tensors"), str(out),
                 "--params", str(tmp_path / "params.yaml")]
        done = subprocess.run([sys.executable, "-c", WATCHED_STAGE, *stage], cwd=tmp_path,
                              check=True, capture_output=True, text=True, env=env)
        assert done.stdout.splitlines()[0] == (
            "set: True True False :4096:8" if deterministic else "set: False False False None")
        assert read_card(out)["deterministic"] is deterministic
        weights[deterministic] = load_file(out)
    assert weights[False].keys() == weights[True].keys()
    assert all((weights[False][key] == weights[True][key]).all() for key in weights[False])
