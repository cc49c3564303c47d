"""Convert stage: time and peak memory against the floor of gunzip + restricted unpickle.

Each side runs in a fresh interpreter so its peak RSS (VmHWM) is its own. Reported: the work's
wall time (excluding interpreter start), the whole process's peak RSS, and the targets:
convert ≤ 1.3× the floor's time; peak RSS ≤ 2× the arrays' size + the bare interpreter.

    python benchmarks/bench_convert.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import ROOT, dataset, median

CHILD = r"""
import json, sys, time
sys.path.insert(0, {src!r})
import gzip, numpy
from mnist_pipeline.convert.unpickler import NumpyOnlyUnpickler
{imports}
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = rss()
start = time.perf_counter()
{work}
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_mib": rss(), "base_mib": base}}))
"""

FLOOR = dict(imports="", work="""
with gzip.open(sys.argv[1], "rb") as f:
    data = NumpyOnlyUnpickler(f, encoding="latin-1").load()
""")
CONVERT = dict(imports="""
from mnist_pipeline.convert.readers import read_source
from mnist_pipeline.core.tensor_files import save_splits
""", work="""
save_splits(read_source(sys.argv[1]), sys.argv[2])
""")


def measure(kind: dict, pickle_path, out_dir) -> dict:
    code = CHILD.format(src=str(ROOT / "src"), **kind)
    result = subprocess.run([sys.executable, "-c", code, str(pickle_path), str(out_dir)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    pickle_path, tensors = dataset()
    out_dir = tensors.parent / "bench-convert"
    floors, converts = [], []
    for _ in range(args.repeat):  # alternate, so drift hits both sides alike
        floors.append(measure(FLOOR, pickle_path, out_dir))
        converts.append(measure(CONVERT, pickle_path, out_dir))
    # The pickle's arrays as they sit in memory (float32 x): what the two copies are counted in.
    from mnist_pipeline.convert.readers import read_source

    arrays_mib = sum(split.x.nbytes + split.y.nbytes
                     for split in read_source(pickle_path).values()) / 2**20
    floor_s = median([m["seconds"] for m in floors])
    convert_s = median([m["seconds"] for m in converts])
    floor_rss = max(m["peak_mib"] for m in floors)
    convert_rss = max(m["peak_mib"] for m in converts)
    interpreter = max(m["base_mib"] for m in converts)
    rss_limit = 2 * arrays_mib + interpreter
    print(f"convert of {pickle_path.stat().st_size / 2**20:.1f} MiB mnist.pkl.gz "
          f"({arrays_mib:.0f} MiB of arrays), median of {args.repeat}")
    print(f"  floor (gunzip + restricted unpickle): {floor_s:.2f} s, peak RSS {floor_rss:.0f} MiB")
    print(f"  convert (read, validate, write):      {convert_s:.2f} s, "
          f"peak RSS {convert_rss:.0f} MiB")
    print(f"  time ratio {convert_s / floor_s:.2f}x (target <= 1.30x) "
          f"{'ok' if convert_s <= 1.3 * floor_s else 'MISSED'}")
    print(f"  peak RSS {convert_rss:.0f} MiB vs limit 2 x {arrays_mib:.0f} + {interpreter:.0f} "
          f"(interpreter) = {rss_limit:.0f} MiB {'ok' if convert_rss <= rss_limit else 'MISSED'}")


if __name__ == "__main__":
    main()
