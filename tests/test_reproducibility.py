"""Reproducibility: the same key and inputs give bitwise the same run in another process, for each of
the five synthesis methods, and float64 inputs (with ``jax_enable_x64``) stay float64 end to end.

One script runs the five methods (tiny 16x16 float64 problems, 5 iterations each) and writes every
leaf of each final state, and the losses, to an ``.npz``. It runs in two separate processes, one
after the other; to keep the test cheap the second loads the programs the first compiled from a
persistent compilation cache (as a user's later runs do). Runs that compile independently in two
processes are compared bitwise in ``tests/test_resume.py`` (Metamer) and ``tests/test_io.py`` (a
batched MADCompetition resumed in a new process). What does and does not carry across processes,
machines, thread counts and devices is in ``docs/reproducibility.md``.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", sys.argv[2])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    import equinox as eqx, jax.numpy as jnp, numpy as np, optax
    import jaxoptic as jo

    img = jo.data.camera()[:, :16, :16].astype(jnp.float64)
    other = jo.data.brick()[:, :16, :16].astype(jnp.float64)
    key = jax.random.key(11)
    blur = jo.models.Gaussian((5, 5), std=1.0)


    class TwoScales(eqx.Module):
        scales = ("coarse", "fine")
        representation_scales = ("coarse",) * 4 + ("fine",) * 16

        def __call__(self, x):
            c, h, w = x.shape
            coarse = x.reshape(c, 2, h // 2, 2, w // 2).mean((2, 4)).reshape(c, 4)
            fine = x.reshape(c, 4, h // 4, 4, w // 4).mean((2, 4)).reshape(c, 16)
            return jnp.concatenate([coarse, fine], axis=-1)


    def blur_mse(a, b):
        return jo.metrics.mse(blur(a), blur(b))


    runs = {
        "metamer": (jo.Metamer(img, blur, optimizer=optax.adam(0.05)), {}),
        "metamer_ctf": (
            jo.MetamerCTF(img, TwoScales(), loss_function=jo.losses.l2_norm,
                          optimizer=optax.adam(0.05)),
            dict(change_scale_criterion=None, ctf_iters_to_check=2),
        ),
        "mad": (jo.MADCompetition(img, jo.metrics.mse, blur_mse, "max",
                                  metric_tradeoff_lambda=1e3), {}),
        "eigendistortion": (jo.Eigendistortion(img, blur, k=1), {}),
        "geodesic": (jo.Geodesic(img, other, blur, n_steps=3, initial_sequence="bridge"), {}),
    }
    arrays = {}
    for name, (method, options) in runs.items():
        state, history = jo.synthesize(method, method.init(key=key), max_iter=5, progress=False,
                                       stop_criterion=-1.0, **options)
        for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
            if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                leaf = jax.random.key_data(leaf)
            arrays[name + jax.tree_util.keystr(path)] = np.asarray(leaf)
        arrays[name + "/losses"] = history.losses
    np.savez(sys.argv[1], **arrays)
    """
)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """The script's outputs from two separate processes."""
    tmp = tmp_path_factory.mktemp("repro")
    script = tmp / "run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    outs = []
    for name in ("a", "b"):
        out = tmp / f"{name}.npz"
        done = subprocess.run(
            [sys.executable, str(script), str(out), str(tmp / "cache")],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outs.append(dict(np.load(out)))
    return outs


METHODS = ["metamer", "metamer_ctf", "mad", "eigendistortion", "geodesic"]


def of(method, arrays):
    """The arrays of ``method``'s run (keys ``method.<state leaf>`` and ``method/losses``)."""
    return {k: v for k, v in arrays.items() if k.startswith((f"{method}.", f"{method}/"))}


@pytest.mark.parametrize("method", METHODS)
def test_same_key_and_inputs_give_bitwise_the_same_run_in_another_process(two_processes, method):
    a, b = two_processes
    names = sorted(of(method, a))
    assert names == sorted(of(method, b))
    assert f"{method}/losses" in names and len(names) > 3
    for name in names:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), f"{name} differs between processes"


@pytest.mark.parametrize("method", METHODS)
def test_float64_inputs_stay_float64_end_to_end(two_processes, method):
    a, _ = two_processes
    floating = {k: v.dtype for k, v in of(method, a).items() if v.dtype.kind in "fc"}
    assert f"{method}/losses" in floating
    assert all(dtype in (np.float64, np.complex128) for dtype in floating.values()), floating
