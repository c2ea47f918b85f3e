"""Portilla-Simoncelli texture metamer: time to plenoptic's quality, compile time, peak memory, batches.

Case (issue #3, section 7): a 256x256 texture (bundled ``brick``), CPU, one core for both libraries.

1. plenoptic's documented recipe: ``Metamer(img, PS, loss_function=portilla_simoncelli_loss_factory)``
   with ``torch.optim.LBFGS(max_iter=10, max_eval=10, history_size=100, line_search_fn="strong_wolfe",
   lr=1)`` for 100 iterations. Its final statistics MSE (``mean((ps(x) - ps(target))**2)``, unweighted,
   computed by jaxoptic's PS in float64 on both outputs) is the quality target.
2. jaxoptic's recipe (``jaxoptic.recipes.portilla_simoncelli_metamer``) from the same initial image,
   run in chunks; we record the statistics MSE after every chunk and report the wall time (steady
   state: compile excluded and reported separately) at which it first reaches the target.

Both run in subprocesses pinned to one core with one thread. Peak resident memory of each process is
read from ``resource.getrusage`` (it includes the interpreter and libraries). Results go to
``benchmarks/results/ps_metamer.json`` and a Markdown table on stdout.

Usage::

    python benchmarks/ps_metamer.py --reference-python /path/to/ref-venv/bin/python [--batch]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _common import machine, run_pinned  # noqa: E402


def _target_and_init(seed: int = 0):
    from PIL import Image

    img = (
        np.asarray(
            Image.open(HERE.parent / "jaxoptic" / "data" / "images" / "brick.png"), np.float64
        )
        / 255.0
    )
    img = img[None]
    u = np.random.default_rng(seed).random(img.shape)
    init = img.mean() + 0.2 * (u - 0.5)
    return img.astype(np.float32), init.astype(np.float32)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process. Linux's ``VmHWM`` (reset by ``exec``); ``ru_maxrss``
    elsewhere, which on Linux also counts the parent's memory at ``fork``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_torch(n_iter: int) -> dict:
    import plenoptic as po
    import torch

    torch.set_num_threads(1)
    rss_imports = _peak_rss_mb()
    img, init = _target_and_init()
    img_t = torch.as_tensor(img)[None]
    init_t = torch.as_tensor(init)[None]
    model = po.models.PortillaSimoncelli(img.shape[-2:])
    loss = po.loss.portilla_simoncelli_loss_factory(model, img_t)
    met = po.Metamer(img_t, model, loss_function=loss)
    met.setup(
        initial_image=init_t,
        optimizer=torch.optim.LBFGS,
        optimizer_kwargs=dict(
            max_iter=10, max_eval=10, history_size=100, line_search_fn="strong_wolfe", lr=1
        ),
    )
    t0 = time.perf_counter()
    met.synthesize(max_iter=n_iter, stop_criterion=-1.0)
    elapsed = time.perf_counter() - t0
    return {
        "library": "plenoptic",
        "plenoptic": po.__version__,
        "torch": torch.__version__,
        "iterations": n_iter,
        "time_s": elapsed,
        "final_loss": float(met.losses[-1]),
        "metamer": met.metamer.detach().numpy()[0].tolist(),
        "peak_rss_mb": _peak_rss_mb(),
        "rss_after_imports_mb": rss_imports,
    }


def _stats_mse(images: list[np.ndarray], target: np.ndarray) -> list[float]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import jaxoptic as jo

    ps = jo.models.PortillaSimoncelli(target.shape[-2:])
    f = jax.jit(lambda x: ps(x))
    t = f(jnp.asarray(target, jnp.float64))
    return [float(jnp.mean((f(jnp.asarray(x, jnp.float64)) - t) ** 2)) for x in images]


def _use_cache(cache_dir: str | None) -> None:
    import jax

    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def worker_jax(max_iter: int, chunk: int, target_mse: float, cache_dir: str | None) -> dict:
    _use_cache(cache_dir)
    import jax
    import jax.numpy as jnp

    import jaxoptic as jo

    img, init = _target_and_init()
    img, init = jnp.asarray(img), jnp.asarray(init)
    # set-up: the target statistics and the initial objective and gradient (compiled on first use)
    t0 = time.perf_counter()
    met, state0 = jo.recipes.portilla_simoncelli_metamer(
        img, key=jax.random.key(0), initial_image=init
    )
    jax.block_until_ready(state0.image)
    setup_s = time.perf_counter() - t0
    ps = jo.models.PortillaSimoncelli(img.shape[-2:])

    @jax.jit
    def stats_mse(x, t):
        return jnp.mean((ps(x) - t) ** 2)

    target_rep = ps(img)  # float32 here; the final comparison is redone in float64
    # compile: first chunk of a throw-away run (the run itself is one iteration, milliseconds)
    t0 = time.perf_counter()
    jo.synthesize(met, state0, max_iter=1, chunk_size=chunk, progress=False)
    compile_s = time.perf_counter() - t0
    rss_after_compile = _peak_rss_mb()

    state, elapsed, trace = state0, 0.0, []
    reached = None
    while int(state.iteration) < max_iter:
        t0 = time.perf_counter()
        state, _ = jo.synthesize(
            met, state, max_iter=chunk, chunk_size=chunk, progress=False, stop_criterion=-1.0
        )
        jax.block_until_ready(state.image)
        elapsed += time.perf_counter() - t0
        mse = float(stats_mse(state.image, target_rep))
        trace.append((int(state.iteration), elapsed, mse))
        if reached is None and mse <= target_mse:
            reached = (int(state.iteration), elapsed)
            break
    return {
        "library": "jaxoptic",
        "jax": jax.__version__,
        "compile_s": compile_s,
        "setup_s": setup_s,
        "trace": trace,
        "reached": reached,
        "metamer": np.asarray(state.image).tolist(),
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_after_compile_mb": rss_after_compile,
    }


def worker_clean(n_iter: int, chunk: int, cache_dir: str | None) -> dict:
    """The run alone, for its wall time and peak memory: recipe set-up, compile, then ``n_iter``
    iterations in chunks, with none of the measuring (statistics after every chunk) of
    :func:`worker_jax`, whose extra compiled programs would count in the peak memory."""
    _use_cache(cache_dir)
    import jax
    import jax.numpy as jnp

    import jaxoptic as jo

    rss_imports = _peak_rss_mb()
    img, init = _target_and_init()
    img, init = jnp.asarray(img), jnp.asarray(init)
    t0 = time.perf_counter()
    met, state = jo.recipes.portilla_simoncelli_metamer(
        img, key=jax.random.key(0), initial_image=init
    )
    jax.block_until_ready(state.image)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jo.synthesize(met, state, max_iter=1, chunk_size=chunk, progress=False)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, _ = jo.synthesize(
        met, state, max_iter=n_iter, chunk_size=chunk, progress=False, stop_criterion=-1.0
    )
    jax.block_until_ready(state.image)
    return {
        "iterations": int(state.iteration),
        "time_s": time.perf_counter() - t0,
        "setup_s": setup_s,
        "compile_s": compile_s,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_after_imports_mb": rss_imports,
        "metamer": np.asarray(state.image).tolist(),
    }


def worker_batch(sizes: list[int], n_iter: int, cache_dir: str | None, devices: int) -> dict:
    """Batches of N metamers (one synthesize call) against N sequential runs, in one process.

    The batch runs twice: as ``synthesize`` runs it by default on a CPU (each device computes its
    lanes one at a time, ``lanes_at_once=1``) and vectorized (``lanes_at_once=None``, one vmapped
    batch). With ``devices`` > 1 the process has that many CPU devices and the batch is sharded
    across them; the sequential runs use device 0 (with XLA's threads, if the process may use
    several cores)."""
    _use_cache(cache_dir)
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    if devices > 1:
        jax.config.update("jax_num_cpu_devices", devices)
    import jaxoptic as jo

    img, _ = _target_and_init()
    img = jnp.asarray(img)
    ps = jo.models.PortillaSimoncelli(img.shape[-2:])
    target_rep = ps(img)
    stats_mse = jax.jit(jax.vmap(lambda x: jnp.mean((ps(x) - target_rep) ** 2)))

    def build(im, k):
        return jo.recipes.portilla_simoncelli_metamer(im, key=k)

    def run(met, state, **kw):
        s, _ = jo.synthesize(
            met,
            state,
            max_iter=n_iter,
            chunk_size=n_iter,
            progress=False,
            stop_criterion=-1.0,
            **kw,
        )
        return jax.block_until_ready(s.image)

    out = {}
    for n in sizes:
        images = jnp.stack([img] * n)
        keys = jax.random.split(jax.random.key(0), n)
        mets, states = eqx.filter_vmap(build)(images, keys)
        row = {}
        for name, lanes in (("batched", "auto"), ("vectorized", None)):
            jo.synthesize(
                mets, states, max_iter=1, chunk_size=n_iter, progress=False, lanes_at_once=lanes
            )  # compile
            t0 = time.perf_counter()
            batch_images = run(mets, states, lanes_at_once=lanes)
            row[f"{name}_s"] = time.perf_counter() - t0
            row[f"{name}_stats_mse_median"] = float(np.median(stats_mse(batch_images)))
            del batch_images
        run(*build(img, keys[0]))  # compile the single-image program
        t0 = time.perf_counter()
        solo_images = [run(*build(img, keys[i])) for i in range(n)]
        row["sequential_s"] = time.perf_counter() - t0
        row["sequential_stats_mse_median"] = float(np.median(stats_mse(jnp.stack(solo_images))))
        row["ratio"] = row["batched_s"] / row["sequential_s"]
        row["vectorized_ratio"] = row["vectorized_s"] / row["sequential_s"]
        out[str(n)] = row
    return {"batch": out, "iterations": n_iter, "devices": len(jax.devices())}


def _batch_part(args, out_dir: Path) -> None:
    """Batch throughput on one core (one thread) and, with ``--devices``, on the whole machine."""
    cache_dir = tempfile.mkdtemp(prefix="jaxoptic_bench_cache_")
    worker = ["--worker", "batch", "--batch-iterations", str(args.batch_iterations)]
    worker += ["--cache-dir", cache_dir]
    runs = {
        "one_core": run_pinned(
            sys.executable, Path(__file__), [*worker, "--sizes", args.sizes], core=args.core
        )
    }
    if args.devices > 1:
        runs["all_cores"] = run_pinned(
            sys.executable,
            Path(__file__),
            [*worker, "--sizes", args.devices_sizes, "--devices", str(args.devices)],
            core=None,
            single_thread=False,
        )
    runs["machine"] = machine()
    (out_dir / "ps_metamer_batch.json").write_text(json.dumps(runs, indent=2))
    for name, r in runs.items():
        if name == "machine":
            continue
        where = (
            "1 core, 1 thread"
            if name == "one_core"
            else (
                f"{runs['machine']['logical_cores']} cores, XLA's threads, batch over "
                f"{r['devices']} CPU devices"
            )
        )
        print(
            f"\nBatch throughput ({where}), {r['iterations']} iterations per image (median "
            "statistics MSE in brackets)\n| N | batched (default: lanes one at a time per device) "
            "| batched, vectorized (vmap) | N sequential runs | batched / sequential | "
            "vectorized / sequential |\n|---|---|---|---|---|---|"
        )
        for n, x in r["batch"].items():
            print(
                f"| {n} | {x['batched_s']:.1f} s ({x['batched_stats_mse_median']:.2e}) "
                f"| {x['vectorized_s']:.1f} s ({x['vectorized_stats_mse_median']:.2e}) "
                f"| {x['sequential_s']:.1f} s ({x['sequential_stats_mse_median']:.2e}) "
                f"| {x['ratio']:.2f} | {x['vectorized_ratio']:.2f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default=sys.executable)
    parser.add_argument("--iterations", type=int, default=100, help="plenoptic L-BFGS iterations")
    parser.add_argument("--max-iter", type=int, default=2000, help="jaxoptic iteration budget")
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument(
        "--batch", action="store_true", help="also measure batch throughput (N=1,4,8,16)"
    )
    parser.add_argument("--batch-iterations", type=int, default=20)
    parser.add_argument(
        "--reuse-reference",
        action="store_true",
        help="reuse plenoptic's stored run (results/) instead of running it again",
    )
    parser.add_argument(
        "--worker", choices=["jax", "torch", "batch", "clean"], help=argparse.SUPPRESS
    )
    parser.add_argument("--target-mse", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="1,4,8,16", help="batch sizes for --batch")
    parser.add_argument(
        "--devices",
        type=int,
        default=0,
        help="with --batch: also measure on all cores, the batch sharded over this many CPU "
        "devices (0: skip)",
    )
    parser.add_argument("--devices-sizes", default="8", help="batch sizes for --devices")
    parser.add_argument("--skip-metamer", action="store_true", help="only the --batch part")
    args = parser.parse_args()

    if args.worker == "torch":
        print(json.dumps(worker_torch(args.iterations)))
        return
    if args.worker == "jax":
        print(json.dumps(worker_jax(args.max_iter, args.chunk, args.target_mse, args.cache_dir)))
        return
    if args.worker == "clean":
        print(json.dumps(worker_clean(args.max_iter, args.chunk, args.cache_dir)))
        return
    if args.worker == "batch":
        sizes = [int(s) for s in args.sizes.split(",")]
        devices = max(args.devices, 1)
        print(json.dumps(worker_batch(sizes, args.batch_iterations, args.cache_dir, devices)))
        return

    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    if args.batch:
        _batch_part(args, out_dir)
    if args.skip_metamer:
        return
    ref_file = out_dir / f"ps_metamer_plenoptic_{args.iterations}.json"
    if args.reuse_reference and ref_file.exists():
        ref = json.loads(ref_file.read_text())
    else:
        ref = run_pinned(
            args.reference_python,
            Path(__file__),
            ["--worker", "torch", "--iterations", str(args.iterations)],
            args.core,
        )
        ref_file.write_text(json.dumps(ref))
    target, _ = _target_and_init()
    ref_mse = _stats_mse([np.asarray(ref["metamer"], np.float32)], target)[0]
    cache_dir = tempfile.mkdtemp(prefix="jaxoptic_bench_cache_")
    worker_args = [
        "--worker",
        "jax",
        "--max-iter",
        str(args.max_iter),
        "--chunk",
        str(args.chunk),
        "--target-mse",
        repr(ref_mse),
        "--cache-dir",
        cache_dir,
    ]
    # the same run twice, in fresh processes: cold (empty compilation cache), then cached
    ours = run_pinned(sys.executable, Path(__file__), worker_args, args.core)
    cached = run_pinned(sys.executable, Path(__file__), worker_args, args.core)
    ours["cached"] = {k: v for k, v in cached.items() if k != "metamer"}
    our_mse = _stats_mse([np.asarray(ours["metamer"], np.float32)], target)[0]
    if ours["reached"]:
        # the same number of iterations without the measuring, cold and cached: time and memory
        clean_dir = tempfile.mkdtemp(prefix="jaxoptic_bench_cache_")
        clean_args = ["--worker", "clean", "--max-iter", str(ours["reached"][0])]
        clean_args += ["--chunk", str(args.chunk), "--cache-dir", clean_dir]
        clean = [run_pinned(sys.executable, Path(__file__), clean_args, args.core) for _ in "ab"]
        # and cold on the whole machine: XLA compiles on several threads when it may
        all_dir = tempfile.mkdtemp(prefix="jaxoptic_bench_cache_")
        all_args = [*clean_args[:-1], all_dir]
        clean.append(
            run_pinned(sys.executable, Path(__file__), all_args, core=None, single_thread=False)
        )
        for c in clean:
            c["stats_mse"] = _stats_mse([np.asarray(c.pop("metamer"), np.float32)], target)[0]
        ours["clean_cold"], ours["clean_cached"], ours["clean_cold_all_cores"] = clean
    result = {
        "machine": machine(),
        "plenoptic": {k: v for k, v in ref.items() if k != "metamer"},
        "plenoptic_stats_mse": ref_mse,
        "jaxoptic": {k: v for k, v in ours.items() if k != "metamer"},
        "jaxoptic_final_stats_mse": our_mse,
    }
    (out_dir / "ps_metamer.json").write_text(json.dumps(result, indent=2))

    print(
        f"Machine: {result['machine']['cpu']}, 1 core (taskset -c {args.core}), 1 thread, float32"
    )
    print(
        f"plenoptic {ref['plenoptic']} (torch {ref['torch']}): {args.iterations} L-BFGS iterations in "
        f"{ref['time_s']:.1f} s, statistics MSE {ref_mse:.3e}, peak RSS {ref['peak_rss_mb']:.0f} MB"
    )
    if ours["reached"]:
        it, t = ours["reached"]
        c = ours["cached"]
        print(
            f"jaxoptic {ours['jax']}: reached it after {it} iterations in {t:.1f} s "
            f"({ref['time_s'] / t:.1f}x faster); compile {ours['compile_s']:.1f} s cold, "
            f"{c['compile_s']:.1f} s cached (recipe set-up {ours['setup_s']:.1f} s cold, "
            f"{c['setup_s']:.1f} s cached); peak RSS {ours['peak_rss_mb']:.0f} MB cold "
            f"({ours['peak_rss_after_compile_mb']:.0f} MB after compiling), "
            f"{c['peak_rss_mb']:.0f} MB cached; cached run reached it in {c['reached'][1]:.1f} s"
        )
        for name in ("clean_cold", "clean_cached", "clean_cold_all_cores"):
            c = ours[name]
            print(
                f"  {name}: {c['iterations']} iterations in {c['time_s']:.1f} s (statistics MSE "
                f"{c['stats_mse']:.3e}); set-up {c['setup_s']:.1f} s, compile {c['compile_s']:.1f} s; "
                f"peak RSS {c['peak_rss_mb']:.0f} MB ({c['rss_after_imports_mb']:.0f} MB after imports)"
            )
        print(
            f"  plenoptic peak RSS {ref['peak_rss_mb']:.0f} MB "
            f"({ref.get('rss_after_imports_mb', float('nan')):.0f} MB after imports)"
        )
    else:
        print(
            f"jaxoptic did not reach plenoptic's statistics MSE within {args.max_iter} iterations "
            f"(final {our_mse:.3e})"
        )


if __name__ == "__main__":
    main()
