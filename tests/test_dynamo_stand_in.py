"""The train stage's stand-in for torch._dynamo: same optimizer arithmetic, no compiler import."""

import subprocess
import sys

SCRIPT = r"""
import sys, torch
install = sys.argv[1] == "stand-in"
if install:
    from mnist_pipeline.train import dynamo_stand_in
    assert dynamo_stand_in.install()
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
    from mnist_pipeline.train import dynamo_stand_in
    assert not dynamo_stand_in.is_stand_in()
else:  # what the stand-in saves: plain optim.SGD does import the compiler
    assert compiler_loaded, "optim.SGD no longer imports torch._dynamo"
"""


def run(mode, out):
    return subprocess.run([sys.executable, "-c", SCRIPT, mode, str(out)], capture_output=True,
                          text=True, timeout=300)


def test_sgd_steps_are_identical_and_the_compiler_is_not_imported(tmp_path):
    import torch

    with_stand_in = run("stand-in", tmp_path / "a.pt")
    assert with_stand_in.returncode == 0, with_stand_in.stderr
    plain = run("plain", tmp_path / "b.pt")
    assert plain.returncode == 0, plain.stderr
    a, b = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_the_stand_in_takes_any_arguments_a_later_torch_may_pass():
    from mnist_pipeline.train.dynamo_stand_in import _StandIn

    def step():
        pass

    assert _StandIn.disable(step) is step
    assert _StandIn.disable(step, False, reason="optimizer", an_argument_of_torch_3=1) is step
    assert _StandIn.disable(recursive=False)(step) is step
    assert _StandIn.graph_break("msg", an_argument_of_torch_3=1) is None
