"""Tuning the Portilla-Simoncelli metamer recipe: time to plenoptic's quality for each setting.

Every candidate starts from the same image and runs (one core, one thread, compile excluded) until
the statistics MSE (unweighted, float32 model) reaches the value plenoptic's documented L-BFGS recipe
reaches after 100 iterations (stored by ``ps_metamer.py`` in ``results/``; run that first). The
recipe's defaults are the fastest setting; ``benchmarks/README.md`` records the table.

Usage::

    python benchmarks/ps_recipe_tuning.py [--core 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _common import run_pinned  # noqa: E402
from ps_metamer import _stats_mse, _target_and_init  # noqa: E402

CANDIDATES = {
    "lbfgs m=5": {"memory_size": 5},
    "lbfgs m=10": {"memory_size": 10},
    "lbfgs m=20": {"memory_size": 20},
    "lbfgs m=50 (default)": {"memory_size": 50},
    "lbfgs m=20, noise start": {"memory_size": 20, "start": "uniform"},
    "optax.lbfgs m=20": {"memory_size": 20, "optimizer": "optax"},
    "adam lr=0.02": {"optimizer": "adam", "lr": 0.02},
}


def worker(name: str, target_mse: float, max_iter: int, chunk: int, seed: int) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    import jaxoptic as jo

    cfg = CANDIDATES[name]
    img, init = _target_and_init(seed)
    img = jnp.asarray(img)
    if cfg.get("start") == "uniform":  # plenoptic's default start: uniform noise in [0, 1]
        init = jax.random.uniform(jax.random.key(seed), img.shape, img.dtype)
    init = jnp.asarray(init)
    opt = None
    if cfg.get("optimizer") == "optax":
        opt = optax.lbfgs(memory_size=cfg["memory_size"])
    elif cfg.get("optimizer") == "adam":
        opt = optax.adam(cfg["lr"])
    met, state = jo.recipes.portilla_simoncelli_metamer(
        img,
        key=jax.random.key(0),
        initial_image=init,
        memory_size=cfg.get("memory_size", 50),
        optimizer=opt,
    )
    ps = jo.models.PortillaSimoncelli(img.shape[-2:])
    target_rep = ps(img)
    stats_mse = jax.jit(lambda x: jnp.mean((ps(x) - target_rep) ** 2))
    t0 = time.perf_counter()
    jo.synthesize(met, state, max_iter=1, chunk_size=chunk, progress=False)
    compile_s = time.perf_counter() - t0
    elapsed, reached = 0.0, None
    while int(state.iteration) < max_iter:
        t0 = time.perf_counter()
        state, _ = jo.synthesize(
            met, state, max_iter=chunk, chunk_size=chunk, progress=False, stop_criterion=-1.0
        )
        jax.block_until_ready(state.image)
        elapsed += time.perf_counter() - t0
        if float(stats_mse(state.image)) <= target_mse:
            reached = (int(state.iteration), elapsed)
            break
    return {
        "name": name,
        "seed": seed,
        "compile_s": compile_s,
        "reached": reached,
        "final_stats_mse": float(stats_mse(state.image)),
        "iterations": int(state.iteration),
        "time_s": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=1500)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--only", default=None, help="comma-separated candidate names")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds of the initial image")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target-mse", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(
            json.dumps(worker(args.worker, args.target_mse, args.max_iter, args.chunk, args.seed))
        )
        return

    ref_file = HERE / "results" / "ps_metamer_plenoptic_100.json"
    if not ref_file.exists():
        raise SystemExit(f"{ref_file} is missing: run benchmarks/ps_metamer.py first.")
    ref = json.loads(ref_file.read_text())
    target, _ = _target_and_init()
    target_mse = _stats_mse([np.asarray(ref["metamer"], np.float32)], target)[0]
    names = args.only.split(",") if args.only else list(CANDIDATES)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in names:
            r = run_pinned(
                sys.executable,
                Path(__file__),
                [
                    "--worker",
                    name,
                    "--target-mse",
                    repr(target_mse),
                    "--max-iter",
                    str(args.max_iter),
                    "--chunk",
                    str(args.chunk),
                    "--seed",
                    str(seed),
                ],
                args.core,
            )
            rows.append(r)
            print(json.dumps(r), flush=True)
    out = HERE / "results" / f"ps_recipe_tuning_{args.seeds.replace(',', '_')}.json"
    out.write_text(json.dumps({"target_stats_mse": target_mse, "rows": rows}, indent=2))
    print(f"\nTarget statistics MSE (plenoptic, 100 L-BFGS iterations): {target_mse:.3e}")
    print("| setting | seed | iterations to target | time to target | compile |")
    print("|---|---|---|---|---|")
    for r in rows:
        it, t = r["reached"] if r["reached"] else (f">{r['iterations']}", float("nan"))
        print(f"| {r['name']} | {r['seed']} | {it} | {t:.1f} s | {r['compile_s']:.1f} s |")


if __name__ == "__main__":
    main()
