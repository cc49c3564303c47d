"""Run every benchmark in turn (whole job, train speed, convert, memory, overhead, the speed
tricks, ranks, growth).

    python benchmarks/run_all.py      # or: make bench

Close other heavy programs first: on a 2-core machine, anything else running skews the ratios.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["bench_job.py", "bench_train.py", "bench_convert.py", "bench_memory.py",
           "bench_overhead.py", "bench_startup.py", "bench_ddp.py", "bench_growth.py"]

if __name__ == "__main__":
    for script in SCRIPTS:
        print(f"\n== {script}", flush=True)
        subprocess.run([sys.executable, str(HERE / script)], check=True)
