"""Checkpointed synthesis: a killed run resumed in a new process ends bitwise where an uninterrupted
run ends (same backend), and synthesize's checkpoint options."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import jaxoptic as jo

ROOT = Path(__file__).resolve().parents[1]

# One script, three roles: "full" runs 24 iterations in one go; "killed" checkpoints every 5 and
# kills itself with SIGKILL after iteration 15 (mid-run, nothing flushed); "resume" loads the latest
# checkpoint and runs to 24. Each writes the final image and losses to OUT.
SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp, numpy as np
    import jaxoptic as jo

    role, ckpt, out, method_name = sys.argv[1:5]
    img = jo.data.camera()[:, :32, :32].astype(jnp.float64)
    model = jo.models.Gaussian((5, 5), std=1.0)
    if method_name == "lbfgs":
        met = jo.Metamer(img, model, optimizer=jo.optimizers.lbfgs(memory_size=4))
    else:
        met = jo.Metamer(img, model, optimizer=jo.optimizers.amsgrad(0.05))
    state = met.init(key=jax.random.key(3))
    kw = dict(progress=False, stop_criterion=-1.0, chunk_size=5)
    if role == "full":
        state, hist = jo.synthesize(met, state, max_iter=24, **kw)
    elif role == "killed":
        def die(state, history):
            if int(state.iteration) >= 15:
                os.kill(os.getpid(), signal.SIGKILL)
        jo.synthesize(met, state, max_iter=24, checkpoint_every=5, checkpoint_dir=ckpt,
                      callback=die, **kw)
        raise SystemExit("not killed")
    else:
        state, hist = jo.io.load(jo.io.latest(ckpt), met)
        more, h2 = jo.synthesize(met, state, max_iter=24 - int(state.iteration), **kw)
        state, hist = more, hist + h2
    np.savez(out, image=np.asarray(state.image), losses=hist.losses,
             iterations=hist.iterations, iteration=int(state.iteration))
    """
)


def _run(tmp_path, *args):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("optimizer", ["lbfgs", "amsgrad"])
def test_killed_run_resumed_in_a_new_process_equals_an_uninterrupted_run(tmp_path, optimizer):
    ckpt = tmp_path / "ckpt"
    full = _run(tmp_path, "full", ckpt, tmp_path / "full.npz", optimizer)
    assert full.returncode == 0, full.stderr
    killed = _run(tmp_path, "killed", ckpt, tmp_path / "unused.npz", optimizer)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert jo.io.all_steps(ckpt) == [5, 10, 15]  # every 5 iterations, killed after 15
    resumed = _run(tmp_path, "resume", ckpt, tmp_path / "resumed.npz", optimizer)
    assert resumed.returncode == 0, resumed.stderr
    a, b = np.load(tmp_path / "full.npz"), np.load(tmp_path / "resumed.npz")
    assert int(a["iteration"]) == int(b["iteration"]) == 24
    np.testing.assert_array_equal(a["image"], b["image"])  # bitwise
    np.testing.assert_array_equal(a["losses"], b["losses"])
    np.testing.assert_array_equal(a["iterations"], b["iterations"])


def test_checkpoint_every_keeps_the_newest_and_saves_the_end(tmp_path):
    img = jo.data.camera()[:, :16, :16]
    met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0), optimizer=optax.adam(0.05))
    state, _ = jo.synthesize(
        met,
        met.init(key=jax.random.key(0)),
        max_iter=23,
        progress=False,
        stop_criterion=-1.0,
        checkpoint_every=4,
        checkpoint_dir=tmp_path,
        checkpoint_keep=2,
    )
    assert jo.io.all_steps(tmp_path) == [20, 23]
    loaded, history = jo.io.load(jo.io.latest(tmp_path), met)
    np.testing.assert_array_equal(loaded.image, state.image)
    assert len(history) == 23


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"checkpoint_every": 0, "checkpoint_dir": "x"}, "checkpoint_every"),
        ({"checkpoint_every": 2.5, "checkpoint_dir": "x"}, "checkpoint_every"),
        ({"checkpoint_every": 5}, "checkpoint_dir"),
    ],
)
def test_bad_checkpoint_options_are_refused(kwargs, match):
    img = jo.data.camera()[:, :16, :16]
    met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0), optimizer=optax.adam(0.05))
    with pytest.raises(ValueError, match=match):
        jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=3, progress=False, **kwargs)
