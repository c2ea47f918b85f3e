"""How far the same synthesis run moves when the process, the device count, the threading or the
precision change (the figures of ``docs/reproducibility.md``).

The run: a Portilla-Simoncelli texture metamer of the brick image, 64x64, ``n_scales=2`` (other
settings as ``jaxoptic.recipes.portilla_simoncelli_metamer``: L-BFGS with one objective evaluation
per iteration), key 0, 50 iterations, the image saved at every iteration. Each configuration runs in
its own fresh process (XLA flags are read when jax starts) without a persistent compilation cache;
the driver compares the saved trajectories and prints the maximum absolute pixel difference at
iterations 0 (the start), 1, 5, 10, 25 and 50, and the relative difference of the final losses.

Configurations (all float32 unless said):

- ``base``: default XLA flags, one CPU device; ``base-again``: the same in another process;
- ``2-devices``: ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (a single run uses one);
- ``1-thread``: ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` (a real comparison only with
  several cores: XLA sizes its Eigen thread pool from the cores the process may use, so a process
  pinned to one core has one Eigen thread either way);
- ``float64``: ``jax_enable_x64`` and a float64 image, started from the float32 run's initial image;
- ``batch``: a batch of two (brick with key 0, grass with key 1) built with ``eqx.filter_vmap``,
  one device; ``batch-2-devices``: the same with two host devices (the batch axis is sharded);
  both as ``synthesize`` runs batches on CPU (each device computes its lanes one at a time);
- ``vectorized``, ``vectorized-2-devices``: the same batches vectorized (``lanes_at_once=None``,
  one ``vmap``ped program per device);
- ``resume-1-device``: the ``batch-2-devices`` run saved at iteration 25 (``jaxoptic.io.save``),
  loaded in a one-device process and continued to 50;
- ``batch-2-devices-again``: ``batch-2-devices`` in another process.

Run from the repository root::

    python benchmarks/reproducibility.py [--core 1]

Writes ``benchmarks/results/reproducibility.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZE = 64
N_SCALES = 2
N_ITER = 50
RESUME_AT = 25
CHECKPOINTS = (0, 1, 5, 10, 25, 50)

CONFIGS = {
    "base": dict(),
    "base-again": dict(),
    "2-devices": dict(xla="--xla_force_host_platform_device_count=2"),
    "1-thread": dict(xla="--xla_cpu_multi_thread_eigen=false"),
    "float64": dict(dtype="float64"),
    "batch": dict(batch=True),
    "batch-2-devices": dict(batch=True, xla="--xla_force_host_platform_device_count=2", save=True),
    "vectorized": dict(batch=True, vectorized=True),
    "vectorized-2-devices": dict(
        batch=True, vectorized=True, xla="--xla_force_host_platform_device_count=2"
    ),
    "resume-1-device": dict(batch=True, resume=True),
    "batch-2-devices-again": dict(
        batch=True, xla="--xla_force_host_platform_device_count=2", save=True
    ),
}

# (label, configuration, reference configuration, lane of the batch compared or None)
COMPARISONS = [
    ("another process (same everything)", "base-again", "base", None),
    ("batch on 2 devices, another process (lane 1)", "batch-2-devices-again", "batch-2-devices", 1),
    ("2 host devices vs 1 (single run)", "2-devices", "base", None),
    (
        "--xla_cpu_multi_thread_eigen=false vs default (one core: one Eigen thread either way)",
        "1-thread",
        "base",
        None,
    ),
    ("float64 vs float32", "float64", "base", None),
    ("lane 0 of a batch (default on CPU: lanes one at a time) vs the solo run", "batch", "base", 0),
    ("batch sharded over 2 devices vs 1 device (lane 0)", "batch-2-devices", "batch", 0),
    ("batch sharded over 2 devices vs 1 device (lane 1)", "batch-2-devices", "batch", 1),
    ("lane 0 of a vectorized batch (lanes_at_once=None) vs the solo run", "vectorized", "base", 0),
    (
        "vectorized batch sharded over 2 devices vs 1 device (lane 0)",
        "vectorized-2-devices",
        "vectorized",
        0,
    ),
    (
        "saved on 2 devices at 25, resumed on 1 vs uninterrupted on 2 (lane 0)",
        "resume-1-device",
        "batch-2-devices",
        0,
    ),
    (
        "saved on 2 devices at 25, resumed on 1 vs uninterrupted on 1 (lane 0)",
        "resume-1-device",
        "batch",
        0,
    ),
]


# -- worker (one configuration, in its own process) ------------------------------------------------
def worker(config: str, out: str, ckpt: str) -> None:
    options = CONFIGS[config]
    import jax

    if options.get("dtype") == "float64":
        jax.config.update("jax_enable_x64", True)
    import equinox as eqx
    import jax.numpy as jnp

    sys.path.insert(0, str(ROOT))
    import jaxoptic as jo

    dtype = jnp.float64 if options.get("dtype") == "float64" else jnp.float32

    def build(image, key):
        return jo.recipes.portilla_simoncelli_metamer(image, key=key, n_scales=N_SCALES)

    brick = jo.data.brick()[:, :SIZE, :SIZE].astype(dtype)
    kw = dict(progress=False, stop_criterion=-1.0, store_progress=1)
    if options.get("vectorized"):
        kw["lanes_at_once"] = None
    if options.get("batch"):
        images = jnp.stack([brick, jo.data.grass()[:, :SIZE, :SIZE].astype(dtype)])
        keys = jax.vmap(jax.random.key)(jnp.arange(2))
        method, state = eqx.filter_vmap(build)(images, keys)
    elif dtype == jnp.float64:
        # the float32 run's initial image (uniform noise drawn in float32), in float64: both runs
        # start from the same point
        _, start = build(brick.astype(jnp.float32), jax.random.key(0))
        method, state = jo.recipes.portilla_simoncelli_metamer(
            brick, key=jax.random.key(0), n_scales=N_SCALES, initial_image=start.image.astype(dtype)
        )
    else:
        method, state = build(brick, jax.random.key(0))
    if options.get("resume"):
        state, history = jo.io.load(ckpt, method)
        state, more = jo.synthesize(method, state, max_iter=N_ITER - RESUME_AT, **kw)
        history = history + more
    elif options.get("save"):
        state, history = jo.synthesize(method, state, max_iter=RESUME_AT, **kw)
        jo.io.save(ckpt, method, state, history)
        state, more = jo.synthesize(method, state, max_iter=N_ITER - RESUME_AT, **kw)
        history = history + more
    else:
        state, history = jo.synthesize(method, state, max_iter=N_ITER, **kw)
    # saved_images[i] is the image before step i; append the final image (after step N_ITER)
    axis = 1 if options.get("batch") else 0
    final = np.expand_dims(np.asarray(state.image), axis)
    trajectory = np.concatenate([np.asarray(history.saved_images), final], axis=axis)
    np.savez(
        out,
        trajectory=trajectory,
        loss=np.asarray(state.loss),
        devices=jax.device_count(),
        sharding=str(getattr(state.image, "sharding", None)),
    )


# -- driver ------------------------------------------------------------------------------------------
def run_config(config: str, tmp: Path, core: int | None) -> dict:
    options = CONFIGS[config]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["XLA_FLAGS"] = options.get("xla", "")
    out = tmp / f"{config}.npz"
    cmd = [sys.executable, __file__, "--worker", config, str(out), str(tmp / "ckpt")]
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"configuration {config} failed")
    data = np.load(out)
    return {k: data[k] for k in data.files}


def compare(a: dict, b: dict, lane: int | None, b_lane: int | None) -> dict:
    ta = a["trajectory"] if lane is None else a["trajectory"][lane]
    tb = b["trajectory"] if b_lane is None else b["trajectory"][b_lane]
    la = a["loss"] if lane is None else a["loss"][lane]
    lb = b["loss"] if b_lane is None else b["loss"][b_lane]
    diffs = {
        str(i): float(np.max(np.abs(ta[i].astype(np.float64) - tb[i].astype(np.float64))))
        for i in CHECKPOINTS
    }
    return {
        "max_abs_image_diff": diffs,
        "bitwise_equal": bool(
            ta.dtype == tb.dtype and np.array_equal(ta, tb) and ta.tobytes() == tb.tobytes()
        ),
        "final_loss": [float(la), float(lb)],
        "final_loss_rel_diff": float(abs(float(la) - float(lb)) / abs(float(lb))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--core", type=int, default=None, help="pin the runs to this core")
    parser.add_argument(
        "--worker", nargs=3, metavar=("CONFIG", "OUT", "CKPT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    sys.path.insert(0, str(HERE))
    from _common import machine

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for config in CONFIGS:  # resume-1-device needs the checkpoint of batch-2-devices
            print(f"running {config} ...", file=sys.stderr, flush=True)
            runs[config] = run_config(config, Path(tmp), args.core)
        for label, config, reference, lane in COMPARISONS:
            a, b = runs[config], runs[reference]
            b_lane = None if lane is None or b["trajectory"].ndim == 4 else lane
            a_lane = lane if a["trajectory"].ndim == 5 else None
            results[label] = compare(a, b, a_lane, b_lane)
        devices = {c: int(r["devices"]) for c, r in runs.items()}

    import jax

    report = {
        "machine": machine(),
        "jax": jax.__version__,
        "run": f"PS metamer {SIZE}x{SIZE}, n_scales={N_SCALES}, recipe defaults, {N_ITER} iterations",
        "devices": devices,
        "comparisons": results,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "reproducibility.json").write_text(json.dumps(report, indent=1))

    cols = " | ".join(f"iter. {i}" for i in CHECKPOINTS)
    print(f"| comparison | bitwise | {cols} | final loss rel. diff. |")
    print("|---|---|" + "---|" * len(CHECKPOINTS) + "---|")
    for label, r in results.items():
        diffs = " | ".join(f"{r['max_abs_image_diff'][str(i)]:.1e}" for i in CHECKPOINTS)
        print(
            f"| {label} | {'yes' if r['bitwise_equal'] else 'no'} | {diffs} | "
            f"{r['final_loss_rel_diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
