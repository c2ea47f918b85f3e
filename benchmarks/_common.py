"""Shared helpers for the benchmarks: timing, machine description, subprocess pinning."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def median_time(fn, repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def machine() -> dict:
    """A short description of the machine the benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_pinned(
    python: str, script: Path, args: list[str], core: int | None = 0, single_thread: bool = True
) -> dict:
    """Run ``python script args`` pinned to one core (``taskset``) and parse its last JSON line.
    ``core=None, single_thread=False`` runs it on the whole machine with the libraries' default
    threads."""
    env = dict(os.environ)
    if single_thread:
        # one thread everywhere: XLA's CPU client, Eigen, OpenMP/MKL (torch) and BLAS
        env.update(
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            XLA_FLAGS=(env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip(),
        )
    cmd = [python, str(script), *args]
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"benchmark subprocess failed: {' '.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
