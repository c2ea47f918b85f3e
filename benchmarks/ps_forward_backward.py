"""Portilla-Simoncelli forward and forward+backward at 256x256: jaxoptic against plenoptic.

Both run in this one invocation, each in a subprocess pinned to the same single core (``taskset -c
0``) with one thread (torch.set_num_threads(1); XLA's CPU client without multi-threaded Eigen). Times
are medians of repeats in steady state; jaxoptic's compile time (first call minus a steady call) is
reported separately. Results go to ``benchmarks/results/ps_forward_backward.json`` and a Markdown
table on stdout (copy it into ``benchmarks/README.md``).

Usage (plenoptic may live in another environment: pass its interpreter)::

    python benchmarks/ps_forward_backward.py --reference-python /path/to/ref-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _common import machine, median_time, run_pinned  # noqa: E402


def _image(dtype_name: str):
    import numpy as np
    from PIL import Image

    path = HERE.parent / "jaxoptic" / "data" / "images" / "brick.png"
    img = np.asarray(Image.open(path), dtype=np.float64) / 255.0
    return img.astype(dtype_name)[None]  # (1, 256, 256)


def worker_jax(repeats: int, dtype_name: str) -> dict:
    import jax

    if dtype_name == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import jaxoptic as jo

    img = jnp.asarray(_image(dtype_name))
    ps = jo.models.PortillaSimoncelli((256, 256))
    target = ps(img)
    x = jnp.clip(
        img + 0.05 * jax.random.normal(jax.random.key(0), img.shape, dtype=img.dtype), 0, 1
    )

    forward = jax.jit(lambda m, x: m(x))
    value_and_grad = jax.jit(jax.value_and_grad(lambda x, m, t: jnp.mean((m(x) - t) ** 2)))

    out = {"library": "jaxoptic", "dtype": dtype_name, "jax": jax.__version__}
    for name, call in (
        ("forward", lambda: forward(ps, x).block_until_ready()),
        ("value_and_grad", lambda: jax.block_until_ready(value_and_grad(x, ps, target))),
    ):
        t0 = time.perf_counter()
        call()
        first = time.perf_counter() - t0
        med, times = median_time(call, repeats, warmup=1)
        out[name] = {"median_s": med, "times_s": times, "compile_s": max(first - med, 0.0)}
    return out


def worker_torch(repeats: int, dtype_name: str) -> dict:
    import plenoptic as po
    import torch

    torch.set_num_threads(1)
    dtype = getattr(torch, dtype_name)
    img = torch.as_tensor(_image(dtype_name), dtype=dtype)[None]  # (1, 1, 256, 256)
    ps = po.models.PortillaSimoncelli((256, 256)).to(dtype)
    with torch.no_grad():
        target = ps(img)
    torch.manual_seed(0)
    x0 = (img + 0.05 * torch.randn_like(img)).clamp(0, 1)

    def forward():
        with torch.no_grad():
            ps(x0)

    def forward_backward():
        x = x0.clone().requires_grad_(True)
        loss = torch.mean((ps(x) - target) ** 2)
        loss.backward()

    out = {
        "library": "plenoptic",
        "dtype": dtype_name,
        "plenoptic": po.__version__,
        "torch": torch.__version__,
    }
    for name, call in (("forward", forward), ("value_and_grad", forward_backward)):
        med, times = median_time(call, repeats, warmup=2)
        out[name] = {"median_s": med, "times_s": times}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference-python", default=sys.executable, help="interpreter with plenoptic"
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--core", type=int, default=0, help="CPU core both libraries are pinned to")
    parser.add_argument("--worker", choices=["jax", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "jax":
        print(json.dumps(worker_jax(args.repeats, args.dtype)))
        return
    if args.worker == "torch":
        print(json.dumps(worker_torch(args.repeats, args.dtype)))
        return

    common = ["--repeats", str(args.repeats), "--dtype", args.dtype]
    ours = run_pinned(sys.executable, Path(__file__), [*common, "--worker", "jax"], args.core)
    ref = run_pinned(
        args.reference_python, Path(__file__), [*common, "--worker", "torch"], args.core
    )
    result = {"machine": machine(), "jaxoptic": ours, "plenoptic": ref}
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "ps_forward_backward.json").write_text(json.dumps(result, indent=2))

    print(
        f"Machine: {result['machine']['cpu']}, 1 core (taskset -c {args.core}), 1 thread; {args.dtype}"
    )
    print(
        f"Versions: jax {ours['jax']}; plenoptic {ref['plenoptic']}, torch {ref['torch']}; "
        f"{args.repeats} repeats, medians\n"
    )
    print(
        "| PS 256x256 (4 scales, 4 orientations, width 7) | jaxoptic | plenoptic | speed-up | jaxoptic compile |"
    )
    print("|---|---|---|---|---|")
    for key, label in (
        ("forward", "forward"),
        ("value_and_grad", "forward + backward (value_and_grad)"),
    ):
        a, b = ours[key]["median_s"], ref[key]["median_s"]
        print(
            f"| {label} | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms | {b / a:.1f}x | {ours[key]['compile_s']:.1f} s |"
        )


if __name__ == "__main__":
    main()
