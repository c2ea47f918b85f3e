"""Checkpoints (jaxoptic.io): round trips of every synthesis method, the checks on load, corrupted
files, atomic saves, write errors, format versions, numbered checkpoints and the committed fixtures."""

import errno
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _processes import free_port, run_together

import jaxoptic as jo
from jaxoptic.io import _checkpoint, _isolated

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture_module():
    spec = importlib.util.spec_from_file_location(
        "make_checkpoints", FIXTURES / "make_checkpoints.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the committed fixtures' builders; the methods below share their model and optimizers, so that the
# fixture tests reuse the compiled programs of the round trips
MAKE = _fixture_module()
SIZE = MAKE.SIZE
GAUSS = MAKE.model()
ADAM = MAKE.ADAM
LBFGS = MAKE.LBFGS


class TwoScales(eqx.Module):
    """A cheap model with scales for MetamerCTF: block means of the image at two resolutions."""

    scales = ("coarse", "fine")
    representation_scales = ("coarse",) * 4 + ("fine",) * 16

    def __call__(self, x):
        c, h, w = x.shape
        coarse = x.reshape(c, 2, h // 2, 2, w // 2).mean((2, 4)).reshape(c, 4)
        fine = x.reshape(c, 4, h // 4, 4, w // 4).mean((2, 4)).reshape(c, 16)
        return jnp.concatenate([coarse, fine], axis=-1)


def blur_mse(a, b):
    """A distance for MAD competition."""
    return jo.metrics.mse(GAUSS(a), GAUSS(b))


# -- one builder per method: (image, key) -> (method, state); filter_vmap of it makes a batch ---------
def metamer_adam(im, key):
    m = jo.Metamer(im, GAUSS, optimizer=ADAM)
    return m, m.init(key=key)


def metamer_lbfgs(im, key):
    m = jo.Metamer(im, GAUSS, optimizer=LBFGS)
    return m, m.init(key=key)


def metamer_ctf(im, key):
    m = jo.MetamerCTF(im, TwoScales(), loss_function=jo.losses.l2_norm, optimizer=ADAM)
    return m, m.init(key=key)


def mad(im, key):
    m = jo.MADCompetition(im, jo.metrics.mse, blur_mse, "max", metric_tradeoff_lambda=1e3)
    return m, m.init(key=key)


def eigendistortion(im, key):
    m = jo.Eigendistortion(im, GAUSS, k=1)
    return m, m.init(key=key)


def geodesic(im, key):
    m = jo.Geodesic(im, im[:, ::-1], GAUSS, n_steps=3)
    return m, m.init(key=key)


BUILDERS = {
    f.__name__: f
    for f in (metamer_adam, metamer_lbfgs, metamer_ctf, mad, eigendistortion, geodesic)
}
OPTIONS = {"metamer_ctf": dict(change_scale_criterion=None, ctf_iters_to_check=2)}
N_BATCH = 2


def images(n=N_BATCH):
    return jnp.stack([jo.data.camera(), jo.data.brick()][:n])[:, :, :SIZE, :SIZE]


def build(name, batched):
    """A fresh method and initial state, single or batched."""
    keys = jax.random.split(jax.random.key(3), N_BATCH)
    if batched:
        return eqx.filter_vmap(BUILDERS[name])(images(), keys)
    return BUILDERS[name](images()[0], keys[0])


def run(method, state, name, n):
    return jo.synthesize(
        method,
        state,
        max_iter=n,
        store_progress=2,
        stop_iters_to_check=5,
        progress=False,
        **OPTIONS.get(name, {}),
    )


_RUNS = {}
# batches that are run (compiled); the other methods' batches stack two copies of the single run's
# state and history (same checkpoint machinery, no extra compilation)
RUN_BATCHED = ("metamer_adam", "metamer_lbfgs", "eigendistortion")


def _stack(tree):
    return jax.tree.map(lambda x: jnp.stack([x, x]) if eqx.is_array(x) else x, tree)


def _stack_history(h):
    stack = lambda x: None if x is None else np.stack([x, x])
    records = {k: stack(v) for k, v in h.records.items()}
    return jo.History(
        stack(h.iterations), records, stack(h.saved_images), stack(h.saved_iterations)
    )


def saved_run(name, batched):
    """(method, state, history) after 3 steps (cached: the tests share compiled programs)."""
    if (name, batched) not in _RUNS:
        if batched and name not in RUN_BATCHED:
            _, state, history = saved_run(name, False)
            method = build(name, True)[0]
            _RUNS[name, batched] = method, _stack(state), _stack_history(history)
        else:
            method, state = build(name, batched)
            state, history = run(method, state, name, 3)
            _RUNS[name, batched] = method, state, history
    return _RUNS[name, batched]


def assert_states_equal(a, b):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def assert_histories_equal(a, b):
    assert sorted(a.records) == sorted(b.records)
    pairs = [(a.iterations, b.iterations), (a.saved_images, b.saved_images)]
    pairs += [(a.saved_iterations, b.saved_iterations)]
    pairs += [(a.records[k], b.records[k]) for k in a.records]
    for x, y in pairs:
        if x is None:
            assert y is None
            continue
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


PICKLE_MARKERS = (b"\x80\x04\x95", b"\x80\x05\x95", b"pickle", b"cloudpickle")


def assert_no_pickle(path: Path):
    files = [p for p in path.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert p.suffix not in (".pkl", ".pickle", ".npy"), p
        data = p.read_bytes()
        if len(data) >= 2:
            assert not (data[0] == 0x80 and data[1] in (2, 3, 4, 5)), f"{p} starts like a pickle"
        for marker in PICKLE_MARKERS:
            assert marker not in data, f"{p} contains {marker!r}"


# -- round trips ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("batched", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_round_trip_is_bitwise_and_writes_no_pickle(tmp_path, name, batched):
    method, state, history = saved_run(name, batched)
    path = jo.io.save(tmp_path / "ckpt", method, state, history)
    assert_no_pickle(path)
    fresh, _ = build(name, batched)  # the user builds the method again
    loaded, loaded_history = jo.io.load(path, fresh)
    assert_states_equal(loaded, state)
    assert_histories_equal(loaded_history, history)


RESUME_CASES = [(name, False) for name in BUILDERS] + [(name, True) for name in RUN_BATCHED]


@pytest.mark.parametrize(
    ("name", "batched"),
    RESUME_CASES,
    ids=[f"{n}-{'batch' if b else 'single'}" for n, b in RESUME_CASES],
)
def test_resume_after_load_equals_the_run_in_memory(tmp_path, name, batched):
    method, state, history = saved_run(name, batched)
    jo.io.save(tmp_path / "ckpt", method, state, history)
    fresh, _ = build(name, batched)
    loaded, _ = jo.io.load(tmp_path / "ckpt", fresh)
    expected, expected_history = run(method, state, name, 2)
    resumed, resumed_history = run(fresh, loaded, name, 2)
    assert_states_equal(resumed, expected)
    assert_histories_equal(resumed_history, expected_history)


def test_resuming_a_loaded_state_reuses_the_compiled_program(tmp_path):
    from jaxoptic.synthesis import _driver

    method, state, history = saved_run("metamer_adam", False)
    run(method, state, "metamer_adam", 1)
    jo.io.save(tmp_path / "ckpt", method, state, history)
    fresh, _ = build("metamer_adam", False)
    loaded, _ = jo.io.load(tmp_path / "ckpt", fresh)
    traces = _driver.TRACE_COUNT
    run(fresh, loaded, "metamer_adam", 1)
    assert _driver.TRACE_COUNT == traces


_BATCH_RUNS = {}


def batch_runs(name, directory):
    """A batch built as a user builds one (eqx.filter_vmap of (image, key) -> (method, state)):
    5 iterations in one go, and 3 iterations saved to ``directory/ckpt`` (cached per method)."""
    if name not in _BATCH_RUNS:
        method, state = build(name, True)
        straight = run(method, state, name, 5)
        first, history = run(method, state, name, 3)
        jo.io.save(directory / "ckpt", method, first, history)
        _BATCH_RUNS[name] = straight, first, directory / "ckpt"
    return _BATCH_RUNS[name]


@pytest.mark.parametrize("name", ["metamer_ctf", "mad", "geodesic"])
def test_filter_vmap_batch_resumed_equals_an_uninterrupted_batch(tmp_path_factory, name):
    (straight, straight_history), first, ckpt = batch_runs(name, tmp_path_factory.mktemp(name))
    fresh, _ = build(name, True)  # built again, as after a restart
    loaded, loaded_history = jo.io.load(ckpt, fresh)
    assert_states_equal(loaded, first)
    resumed, more = run(fresh, loaded, name, 2)
    assert_states_equal(resumed, straight)  # bitwise, every lane
    assert_histories_equal(loaded_history + more, straight_history)


# Loads a checkpoint of a batch into a batch built again by this module's builders, in a new process
# (compiling from scratch), runs 2 more iterations and writes the state's leaves and the history.
RESUME_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import jax
import numpy as np
import jaxoptic as jo
from test_io import build, run

name, ckpt, out = sys.argv[2:5]
fresh, _ = build(name, True)
loaded, history = jo.io.load(ckpt, fresh)
state, more = run(fresh, loaded, name, 2)
history = history + more
leaves = {
    jax.tree_util.keystr(path): np.asarray(
        jax.random.key_data(x) if jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    )
    for path, x in jax.tree_util.tree_flatten_with_path(state)[0]
}
np.savez(out, iterations=history.iterations, saved_images=history.saved_images,
         **{f"records[{k}]": v for k, v in history.records.items()}, **leaves)
"""


@pytest.mark.parametrize(
    "name", ["metamer_lbfgs", "metamer_ctf", "mad", "eigendistortion", "geodesic"]
)
def test_filter_vmap_batch_resumed_in_a_new_process_equals_an_uninterrupted_batch(
    tmp_path, tmp_path_factory, name
):
    (straight, straight_history), _, ckpt = batch_runs(name, tmp_path_factory.mktemp(name))
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    tests = Path(__file__).parent
    done = subprocess.run(
        [sys.executable, str(script), str(tests), name, str(ckpt), str(tmp_path / "out.npz")],
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = np.load(tmp_path / "out.npz")
    expected = {
        jax.tree_util.keystr(path): np.asarray(
            jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x
        )
        for path, x in jax.tree_util.tree_flatten_with_path(straight)[0]
    }
    expected["iterations"] = straight_history.iterations
    expected["saved_images"] = straight_history.saved_images
    expected.update({f"records[{k}]": v for k, v in straight_history.records.items()})
    assert sorted(out.files) == sorted(expected)
    for key, value in expected.items():
        assert out[key].dtype == value.dtype and out[key].tobytes() == value.tobytes(), key


def test_chunk_size_does_not_change_the_bits():
    # chunk_size (and checkpoint_every, which cuts chunks) only changes where the host looks
    method, state = build("metamer_lbfgs", False)
    default, default_history = run(method, state, "metamer_lbfgs", 5)  # one chunk of up to 25
    small, small_history = jo.synthesize(
        method,
        state,
        max_iter=5,
        store_progress=2,
        stop_iters_to_check=5,
        progress=False,
        chunk_size=2,
    )
    assert_states_equal(small, default)
    assert_histories_equal(small_history, default_history)


def test_resumed_run_equals_one_uninterrupted_call(tmp_path):
    method, state = build("metamer_lbfgs", False)
    straight, straight_history = run(method, state, "metamer_lbfgs", 5)
    first, history = run(method, state, "metamer_lbfgs", 3)
    jo.io.save(tmp_path / "ckpt", method, first, history)
    fresh, _ = build("metamer_lbfgs", False)
    loaded, loaded_history = jo.io.load(tmp_path / "ckpt", fresh)
    resumed, more = run(fresh, loaded, "metamer_lbfgs", 2)
    assert_states_equal(resumed, straight)
    np.testing.assert_array_equal((loaded_history + more).losses, straight_history.losses)


def test_state_without_history_loads_with_history_none(tmp_path):
    method, state, _ = saved_run("metamer_adam", False)
    jo.io.save(tmp_path / "ckpt", method, state)
    loaded, history = jo.io.load(tmp_path / "ckpt", build("metamer_adam", False)[0])
    assert history is None
    assert_states_equal(loaded, state)


def test_like_gives_the_state_structure(tmp_path):
    method, state, history = saved_run("metamer_adam", False)
    jo.io.save(tmp_path / "ckpt", method, state, history)
    loaded, _ = jo.io.load(tmp_path / "ckpt", method, like=state)
    assert_states_equal(loaded, state)


def test_metadata_describes_the_run(tmp_path):
    method, state, history = saved_run("metamer_lbfgs", False)
    meta = jo.io.read_metadata(jo.io.save(tmp_path / "ckpt", method, state, history))
    assert meta["format_version"] == jo.io.FORMAT_VERSION
    assert set(meta["versions"]) >= {"jaxoptic", "jax", "optax", "equinox", "orbax-checkpoint"}
    assert meta["backend"]["platform"] == jax.default_backend()
    assert meta["summary"]["method"] == "jaxoptic.Metamer"
    assert meta["summary"]["model"] == "jaxoptic.models.Gaussian"
    assert meta["summary"]["loss_function"] == "jaxoptic.losses.mse"
    assert meta["summary"]["penalty_function"] == "jaxoptic.penalties.range_penalty"
    assert meta["summary"]["optimizer"].startswith("jaxoptic.optimizers.LBFGSState(")
    config = meta["method"]["config"]
    assert config["model.kernel_size"] == [5, 5]
    assert config["penalty_lambda"]["value"] == [pytest.approx(0.1)]
    assert len(config["image"]["sha256"]) == 64
    assert len(meta["method"]["fingerprint"]) == 64
    assert meta["iteration"] == 3 and meta["batch_size"] is None
    leaves = meta["state"]["leaves"]
    assert [r["path"] for r in leaves][:2] == [".image", ".opt_state.value"]
    assert all(len(r["sha256"]) == 64 for r in leaves)
    assert meta["history"]["length"] == 3


def test_model_configuration_is_described_in_json():
    from jaxoptic.io._describe import _describe

    def describe(model):
        out = {}
        _describe(model, "model", out)
        return out

    ps = describe(jo.models.PortillaSimoncelli((SIZE, SIZE), n_scales=2, spatial_corr_width=3))
    assert ps["model"] == "jaxoptic.models.PortillaSimoncelli"
    assert ps["model.n_scales"] == 2 and ps["model.spatial_corr_width"] == 3
    assert ps["model.image_shape"] == [SIZE, SIZE]
    json.dumps(ps, allow_nan=False)  # JSON as is
    again = describe(jo.models.PortillaSimoncelli((SIZE, SIZE), n_scales=2, spatial_corr_width=3))
    assert again == ps
    other = describe(jo.models.PortillaSimoncelli((SIZE, SIZE), n_scales=1, spatial_corr_width=3))
    assert other["model.n_scales"] == 1 and other != ps


def test_batched_metadata_records_the_batch(tmp_path):
    method, state, history = saved_run("metamer_adam", True)
    meta = jo.io.read_metadata(jo.io.save(tmp_path / "ckpt", method, state, history))
    assert meta["batch_size"] == N_BATCH
    assert meta["iteration"] == [3, 3]


# -- checks on load ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def adam_ckpt(tmp_path_factory):
    method, state, history = saved_run("metamer_adam", False)
    return jo.io.save(tmp_path_factory.mktemp("io") / "adam", method, state, history)


def other_image():
    return jo.data.gravel()[:, :SIZE, :SIZE]


MISMATCHES = {
    "model.std": lambda im: jo.Metamer(im, jo.models.Gaussian((5, 5), std=2.0), optimizer=ADAM),
    "model.kernel_size": lambda im: jo.Metamer(
        im, jo.models.Gaussian((3, 3), std=1.0), optimizer=ADAM
    ),
    "model": lambda im: jo.Metamer(im, jo.models.CenterSurround((5, 5)), optimizer=ADAM),
    "image": lambda im: jo.Metamer(other_image(), GAUSS, optimizer=ADAM),
    "loss_function": lambda im: jo.Metamer(im, GAUSS, jo.losses.l2_norm, optimizer=ADAM),
    "penalty_function": lambda im: jo.Metamer(
        im,
        GAUSS,
        penalty_function=functools.partial(jo.penalties.range_penalty, allowed_range=(0.0, 2.0)),
        optimizer=ADAM,
    ),
    "penalty_lambda": lambda im: jo.Metamer(im, GAUSS, penalty_lambda=0.2, optimizer=ADAM),
    "optimizer.probe": lambda im: jo.Metamer(im, GAUSS, optimizer=optax.adam(0.02)),
    "class": lambda im: jo.MetamerCTF(im, TwoScales(), optimizer=ADAM),
}


@pytest.mark.parametrize("field", list(MISMATCHES))
def test_configuration_mismatch_raises_naming_field_values_and_fix(adam_ckpt, field):
    method = MISMATCHES[field](images()[0])
    if field == "class":  # another state structure: always an error
        with pytest.raises(jo.io.CheckpointError, match="state structure") as info:
            jo.io.load(adam_ckpt, method)
        assert ("class", "jaxoptic.Metamer", "jaxoptic.MetamerCTF") in info.value.mismatches
        return
    with pytest.raises(jo.io.CheckpointError, match="raise_on_checks=False") as info:
        jo.io.load(adam_ckpt, method)
    err = info.value
    assert err.field == field
    assert f"`{field}`: checkpoint" in str(err) and "Fix: build the method with the same" in str(
        err
    )
    _, saved, current = err.mismatches[0]
    assert saved != current


def test_loss_mismatch_message(adam_ckpt):
    with pytest.raises(jo.io.CheckpointError) as info:
        jo.io.load(adam_ckpt, MISMATCHES["loss_function"](images()[0]))
    assert (
        "`loss_function`: checkpoint 'jaxoptic.losses.mse', method 'jaxoptic.losses.l2_norm'. "
        "Fix: build the method with the same `loss_function` as when saving." in str(info.value)
    )


@pytest.mark.parametrize("field", ["model.std", "image", "loss_function", "optimizer.probe"])
def test_raise_on_checks_false_warns_and_loads(adam_ckpt, field):
    method = MISMATCHES[field](images()[0])
    with pytest.warns(jo.io.LoadWarning, match=f"`{field}`"):
        state, history = jo.io.load(adam_ckpt, method, raise_on_checks=False)
    assert_states_equal(state, saved_run("metamer_adam", False)[1])
    assert len(history) == 3


@pytest.mark.parametrize("raise_on_checks", [True, False])
def test_shape_mismatch_always_raises(adam_ckpt, raise_on_checks):
    small = jo.Metamer(images()[0][:, :8, :8], GAUSS, optimizer=ADAM)
    with pytest.raises(
        jo.io.CheckpointError,
        match=r"`state.image shape`: checkpoint \[1, 16, 16\], method \[1, 8, 8\]",
    ):
        jo.io.load(adam_ckpt, small, raise_on_checks=raise_on_checks)


@pytest.mark.parametrize("raise_on_checks", [True, False])
def test_dtype_mismatch_always_raises(adam_ckpt, raise_on_checks):
    f64 = jo.Metamer(images()[0].astype(jnp.float64), GAUSS, optimizer=ADAM)
    with pytest.raises(
        jo.io.CheckpointError, match="`state.image dtype`: checkpoint 'float32', method 'float64'"
    ):
        jo.io.load(adam_ckpt, f64, raise_on_checks=raise_on_checks)


def test_optimizer_with_another_state_always_raises(adam_ckpt):
    with pytest.raises(jo.io.CheckpointError, match="state structure.*same optimizer") as info:
        jo.io.load(
            adam_ckpt, jo.Metamer(images()[0], GAUSS, optimizer=LBFGS), raise_on_checks=False
        )
    assert info.value.field == "state structure"


def test_structure_change_under_other_versions_explains_the_migration(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    edit_metadata(path, lambda m: m["versions"].update(optax="0.0.1"))
    lbfgs = jo.Metamer(images()[0], GAUSS, optimizer=LBFGS)
    with pytest.raises(jo.io.CheckpointError, match=r"optax 0.0.1 -> .*migrate by loading"):
        jo.io.load(path, lbfgs)


def test_batched_checkpoint_needs_a_batched_method(tmp_path):
    method, state, history = saved_run("metamer_adam", True)
    jo.io.save(tmp_path / "batch", method, state, history)
    single, _ = build("metamer_adam", False)
    with pytest.raises(jo.io.CheckpointError, match="batch of 2"):
        jo.io.load(tmp_path / "batch", single)


def test_single_checkpoint_refuses_a_batched_method(adam_ckpt):
    batch, _ = build("metamer_adam", True)
    with pytest.raises(jo.io.CheckpointError, match="shape"):
        jo.io.load(adam_ckpt, batch, raise_on_checks=False)


def test_other_library_versions_warn(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    edit_metadata(path, lambda m: m["versions"].update(jax="0.0.1"))
    with pytest.warns(jo.io.LoadWarning, match=r"jax 0.0.1 -> .*bitwise"):
        jo.io.load(path, build("metamer_adam", False)[0])


def test_batch_saved_with_another_device_count_warns(tmp_path):
    method, state, history = saved_run("metamer_adam", True)
    path = jo.io.save(tmp_path / "ckpt", method, state, history)
    edit_metadata(path, lambda m: m["backend"].update(n_devices=2))
    with pytest.warns(jo.io.LoadWarning, match=r"devices 2 -> 1 \(the batch is sharded"):
        loaded, _ = jo.io.load(path, build("metamer_adam", True)[0])
    assert_states_equal(loaded, state)


def edit_metadata(path, change):
    file = Path(path) / "metadata.json"
    meta = json.loads(file.read_text())
    change(meta)
    file.write_text(json.dumps(meta))


# -- damaged files -----------------------------------------------------------------------------------
def test_tampered_dtype_in_metadata_is_refused(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    edit_metadata(path, lambda m: m["state"]["leaves"][0].update(dtype="float16"))
    with pytest.raises(jo.io.CheckpointError, match="`state.image dtype`: checkpoint 'float16'"):
        jo.io.load(path, build("metamer_adam", False)[0], raise_on_checks=False)


def f64_tamper(path):
    """Claim that the float32 image is float64 everywhere in metadata.json (orbax would cast)."""

    def change(meta):
        meta["state"]["leaves"][0]["dtype"] = "float64"
        for leaf in meta["state"]["leaves"]:
            if leaf["dtype"] == "float32":
                leaf["dtype"] = "float64"

    edit_metadata(path, change)


def test_array_stored_in_another_dtype_than_recorded_is_refused(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    f64_tamper(path)
    f64 = jo.Metamer(images()[0].astype(jnp.float64), GAUSS, optimizer=ADAM)
    with (
        pytest.warns(jo.io.LoadWarning),
        pytest.raises(jo.io.CheckpointError, match="stores shape .* dtype float32"),
    ):
        jo.io.load(path, f64, raise_on_checks=False)


def test_orbax_silent_cast_is_caught_by_the_checksums(tmp_path, adam_ckpt, monkeypatch):
    # without the on-disk dtype check, orbax casts float32 to float64 without a word
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    f64_tamper(path)
    monkeypatch.setattr(_checkpoint, "_stored_metadata", lambda directory: {})
    f64 = jo.Metamer(images()[0].astype(jnp.float64), GAUSS, optimizer=ADAM)
    with (
        pytest.warns(jo.io.LoadWarning),
        pytest.raises(jo.io.CheckpointError, match="sha256 checksum"),
    ):
        jo.io.load(path, f64, raise_on_checks=False)


def test_wrong_values_from_the_reader_are_caught_by_the_checksums(adam_ckpt, monkeypatch):
    read = _checkpoint._read_arrays

    def flipped(directory, abstract):
        out = read(directory, abstract)
        out["state_0000"] = out["state_0000"].at[0, 0, 0].add(1e-3)
        return out

    monkeypatch.setattr(_checkpoint, "_read_arrays", flipped)
    with pytest.raises(
        jo.io.CheckpointError, match=r"corrupted: the data of `.image` does not match its sha256"
    ):
        jo.io.load(adam_ckpt, build("metamer_adam", False)[0])


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_flipped_bytes_in_the_array_files_are_detected_or_harmless(tmp_path, adam_ckpt):
    # a flipped byte either makes load raise, or lies in bytes the reader does not use (orbax keeps
    # superseded copies) and the state comes back intact: never wrong values
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    method, saved, _ = saved_run("metamer_adam", False)
    detected = 0
    for file in sorted(p for p in (path / "arrays").rglob("*") if p.is_file()):
        original = file.read_bytes()
        for pos in sorted({0, len(original) // 2, len(original) - 5}):
            data = bytearray(original)
            data[pos] ^= 0x5A
            file.write_bytes(bytes(data))
            try:
                state, _ = jo.io.load(path, method)
            except jo.io.CheckpointError as err:
                assert "is corrupted" in str(err)
                detected += 1
            else:
                assert_states_equal(state, saved)
        file.write_bytes(original)
    assert detected >= 3
    assert_states_equal(jo.io.load(path, method)[0], saved)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_truncated_array_file_is_detected(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    # every data file (orbax's OCDBT store keeps them in `d/` folders; which of them holds which
    # array, and which are left over from the per-process writes, varies from save to save)
    files = [p for p in (path / "arrays").rglob("*") if p.is_file() and p.parent.name == "d"]
    assert files
    for file in files:
        file.write_bytes(file.read_bytes()[:-20])
    with pytest.raises(jo.io.CheckpointError, match="corrupted"):
        jo.io.load(path, build("metamer_adam", False)[0])


def test_damaged_metadata_is_a_clear_error(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    (path / "metadata.json").write_text('{"format": "jaxoptic.checkpoint", "format_ver')
    with pytest.raises(jo.io.CheckpointError, match="metadata.json is corrupted .not valid JSON"):
        jo.io.load(path, build("metamer_adam", False)[0])


def test_incomplete_metadata_is_a_clear_error(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    edit_metadata(path, lambda m: m["state"]["leaves"][0].pop("shape"))
    with pytest.raises(
        jo.io.CheckpointError,
        match=r"metadata.json is corrupted \(damaged, or edited by hand\): "
        r"`state.leaves\[0\].shape` is missing. Fix: .*restore the original file",
    ) as info:
        jo.io.load(path, build("metamer_adam", False)[0])
    assert info.value.field == "state.leaves[0].shape"


def _set(meta, where, value):
    node = meta
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value


def _pop(meta, where):
    node = meta
    for k in where[:-1]:
        node = node[k]
    del node[where[-1]]


# hand edits of metadata.json -> (the field the error names, a phrase of its message)
EDITS = {
    "versions-not-an-object": (lambda m: _set(m, ("versions",), "0.1"), "versions", "an object"),
    "versions-entry": (lambda m: _set(m, ("versions", "jax"), 4), "versions.jax", "version"),
    "backend-missing": (lambda m: _pop(m, ("backend",)), "backend", "is missing"),
    "backend-x64": (lambda m: _set(m, ("backend", "x64"), "yes"), "backend.x64", "true or false"),
    "method-list": (lambda m: _set(m, ("method",), []), "method", "an object"),
    "config-list": (lambda m: _set(m, ("method", "config"), [1]), "method.config", "an object"),
    "fingerprint": (
        lambda m: _set(m, ("method", "fingerprint"), "abc"),
        "method.fingerprint",
        "64",
    ),
    "batch-size": (lambda m: _set(m, ("batch_size",), 0), "batch_size", "integer in"),
    "batch-size-bool": (lambda m: _set(m, ("batch_size",), True), "batch_size", "integer in"),
    "iteration-float": (lambda m: _set(m, ("iteration",), 3.5), "iteration", "integer in"),
    "state-string": (lambda m: _set(m, ("state",), "x"), "state", "an object"),
    "leaves-empty": (lambda m: _set(m, ("state", "leaves"), []), "state.leaves", "is empty"),
    "leaf-null": (lambda m: _set(m, ("state", "leaves", 2), None), "state.leaves[2]", "object"),
    "leaf-key": (
        lambda m: _pop(m, ("state", "leaves", 0, "key")),
        "state.leaves[0].key",
        "missing",
    ),
    "leaf-key-int": (
        lambda m: _set(m, ("state", "leaves", 0, "key"), 7),
        "state.leaves[0].key",
        "a string or null",
    ),
    "leaf-key-null": (
        lambda m: _set(m, ("state", "leaves", 0, "key"), None),
        "state.leaves[0].key",
        "only written for empty arrays",
    ),
    "leaf-key-repeated": (
        lambda m: _set(m, ("state", "leaves", 2, "key"), m["state"]["leaves"][0]["key"]),
        "state.leaves[2].key",
        "repeats the key of state.leaves[0]",
    ),
    "leaf-dtype": (
        lambda m: _set(m, ("state", "leaves", 0, "dtype"), "f8,i4"),
        "state.leaves[0].dtype",
        "numeric or boolean dtype",
    ),
    "leaf-dtype-object": (
        lambda m: _set(m, ("state", "leaves", 0, "dtype"), "object"),
        "state.leaves[0].dtype",
        "numeric or boolean dtype",
    ),
    "leaf-shape-negative": (
        lambda m: _set(m, ("state", "leaves", 0, "shape", 1), -16),
        "state.leaves[0].shape[1]",
        "integer in",
    ),
    "leaf-shape-float": (
        lambda m: _set(m, ("state", "leaves", 0, "shape", 1), 16.0),
        "state.leaves[0].shape[1]",
        "integer in",
    ),
    "leaf-shape-huge": (
        lambda m: _set(m, ("state", "leaves", 0, "shape"), [2**30, 2**30, 2**30]),
        "state.leaves[0].shape",
        "far more than a checkpoint holds",
    ),
    "leaf-shape-string": (
        lambda m: _set(m, ("state", "leaves", 0, "shape"), "1x16x16"),
        "state.leaves[0].shape",
        "a list of sizes",
    ),
    "leaf-sha256": (
        lambda m: _set(m, ("state", "leaves", 0, "sha256"), None),
        "state.leaves[0].sha256",
        "a string",
    ),
    "history-list": (lambda m: _set(m, ("history",), [1]), "history", "an object or null"),
    "history-length": (lambda m: _set(m, ("history", "length"), -1), "history.length", "integer"),
    "history-kind-missing": (
        lambda m: _pop(m, ("history", "arrays", 0, "kind")),
        "history.arrays[0].kind",
        "is missing",
    ),
    "history-kind": (
        lambda m: _set(m, ("history", "arrays", 0, "kind"), 1),
        "history.arrays[0].kind",
        "must be one of",
    ),
    "history-record-name": (
        lambda m: _set(m, ("history", "arrays", 1, "name"), None),
        "history.arrays[1].name",
        "the record's name",
    ),
    "history-no-iterations": (
        lambda m: _set(m, ("history", "arrays", 0, "kind"), "record"),
        "history.arrays[0].name",
        "the record's name",
    ),
    "history-huge-shape": (
        lambda m: _set(m, ("history", "arrays", 1, "shape", 0), 2**40),
        "history.arrays[1].shape",
        "like the iterations",
    ),
    "history-length-edited": (
        lambda m: _set(m, ("history", "length"), 2**40),
        "history.arrays[0].shape",
        "history.length",
    ),
    "history-dtype-key": (
        lambda m: _set(m, ("history", "arrays", 1, "dtype"), "key<fry>"),
        "history.arrays[1].dtype",
        "numeric or boolean dtype",
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_edited_metadata_names_the_field_and_the_fix(tmp_path, adam_ckpt, edit):
    change, field, phrase = EDITS[edit]
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    edit_metadata(path, change)
    with pytest.raises(jo.io.CheckpointError, match="edited by hand") as info:
        jo.io.load(path, build("metamer_adam", False)[0])
    message = str(info.value)
    assert f"`{field}`" in message and phrase in message, message
    assert "restore the original file" in message and "earlier checkpoint" in message
    assert info.value.field == field


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[1, 2, 3]", r"does not describe a jaxoptic checkpoint \(its `format`"),
        ('"jaxoptic"', "does not describe a jaxoptic checkpoint"),
        ('{"format": "jaxoptic.checkpoint", "format_version": 1, "versi', "not valid JSON"),
        (
            '{"format": "jaxoptic.checkpoint", "format_version": ' + "9" * 5000 + "}",
            "not valid JSON",
        ),
        ("[" * 100_000, "not valid JSON"),
        ('{"format": "jaxoptic.checkpoint", "format_version": 1e999}', "invalid format version"),
        ('{"format": "jaxoptic.checkpoint", "format_version": true}', "invalid format version"),
    ],
    ids=["list", "string", "truncated", "huge-int", "deep", "inf", "bool"],
)
def test_metadata_that_is_not_a_checkpoint_description_is_refused(tmp_path, adam_ckpt, text, match):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    (path / "metadata.json").write_text(text)
    with pytest.raises(jo.io.CheckpointError, match=match) as info:
        jo.io.load(path, build("metamer_adam", False)[0])
    assert "restore the original file" in str(info.value)


def test_edited_iteration_is_caught_after_reading(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    edit_metadata(path, lambda m: _set(m, ("iteration",), 7))
    with pytest.raises(
        jo.io.CheckpointError, match=r"`iteration` is 7, but the saved state is at iteration 3"
    ):
        jo.io.load(path, build("metamer_adam", False)[0])


def test_oversized_metadata_is_refused_without_reading_it(tmp_path, adam_ckpt, monkeypatch):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    monkeypatch.setattr(_checkpoint, "MAX_METADATA_BYTES", 100)
    with pytest.raises(jo.io.CheckpointError, match=r"`metadata.json` is \d+ bytes long"):
        jo.io.load(path, build("metamer_adam", False)[0])


@pytest.mark.parametrize("orbax_index", [True, False], ids=["orbax-index", "no-orbax-index"])
def test_consistently_edited_history_sizes_allocate_nothing(
    tmp_path, adam_ckpt, monkeypatch, orbax_index
):
    # a history edited to 2**40 iterations everywhere passes the schema; the sizes are then checked
    # against the array files (orbax's index of them, or what the reader returns), never allocated
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")

    def change(meta):
        meta["history"]["length"] = 2**40
        for rec in meta["history"]["arrays"]:
            if rec["kind"] in ("iterations", "record"):
                rec["shape"] = [2**40]

    edit_metadata(path, change)
    if not orbax_index:
        monkeypatch.setattr(_checkpoint, "_stored_metadata", lambda directory: {})
    match = (
        "stores shape"
        if orbax_index
        else r"came back as int32\[3\], expected int32\[1099511627776\]"
    )
    with pytest.raises(jo.io.CheckpointError, match=match):
        jo.io.load(path, build("metamer_adam", False)[0])


def test_edited_window_size_is_checked_against_the_array_files(tmp_path, adam_ckpt):
    # ring buffers (`*_window`) may differ in size from a fresh init, so their shape is only known
    # from the files: a huge size is refused before anything is read or allocated
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    meta = json.loads((path / "metadata.json").read_text())
    (i,) = [i for i, r in enumerate(meta["state"]["leaves"]) if r["path"].endswith("_window")]
    edit_metadata(path, lambda m: _set(m, ("state", "leaves", i, "shape"), [2**40]))
    with pytest.raises(jo.io.CheckpointError, match=r"stores shape \(5,\).*records shape"):
        jo.io.load(path, build("metamer_adam", False)[0])


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        jo.io.load(tmp_path / "nothing", build("metamer_adam", False)[0])
    (tmp_path / "empty").mkdir()
    with pytest.raises(jo.io.CheckpointError, match="metadata.json is missing"):
        jo.io.load(tmp_path / "empty", build("metamer_adam", False)[0])


# -- format versions -----------------------------------------------------------------------------------
def test_future_format_version_is_refused_with_migration_advice(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    edit_metadata(path, lambda m: m.update(format_version=jo.io.FORMAT_VERSION + 1))
    with pytest.raises(
        jo.io.CheckpointError, match="format version 2.*To migrate: upgrade jaxoptic"
    ) as info:
        jo.io.load(path, build("metamer_adam", False)[0])
    assert info.value.field == "format_version"


def test_invalid_format_version_is_refused(tmp_path, adam_ckpt):
    path = shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    edit_metadata(path, lambda m: m.update(format_version="one"))
    with pytest.raises(jo.io.CheckpointError, match="invalid format version"):
        jo.io.read_metadata(path)


# -- atomic saves and write errors ---------------------------------------------------------------------
@pytest.fixture
def two_runs():
    method, state, history = saved_run("metamer_adam", False)
    later, later_history = run(method, state, "metamer_adam", 2)
    return method, (state, history), (later, later_history)


def listing(directory):
    return sorted(p.name for p in Path(directory).iterdir())


def test_save_replaces_a_checkpoint(tmp_path, two_runs):
    method, (s1, h1), (s2, h2) = two_runs
    jo.io.save(tmp_path / "ckpt", method, s1, h1)
    jo.io.save(tmp_path / "ckpt", method, s2, h2)
    assert listing(tmp_path) == ["ckpt"]
    assert_states_equal(jo.io.load(tmp_path / "ckpt", method)[0], s2)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        jo.io.save(tmp_path / "ckpt", method, s1, h1, overwrite=False)


def test_save_never_replaces_a_directory_that_is_not_a_checkpoint(tmp_path, two_runs):
    method, (s1, h1), _ = two_runs
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a jaxoptic checkpoint"):
        jo.io.save(tmp_path / "data", method, s1, h1)
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep me"


def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, two_runs, monkeypatch):
    method, (s1, h1), (s2, h2) = two_runs
    jo.io.save(tmp_path / "ckpt", method, s1, h1)

    def crash(path, obj):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(_checkpoint, "_write_json", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        jo.io.save(tmp_path / "ckpt", method, s2, h2)
    monkeypatch.undo()
    assert listing(tmp_path) == ["ckpt"]  # no temporary directory left behind
    assert_states_equal(jo.io.load(tmp_path / "ckpt", method)[0], s1)


def test_killed_save_leaves_nothing_that_loads(tmp_path, two_runs, monkeypatch):
    method, (s1, h1), (s2, h2) = two_runs
    jo.io.save(tmp_path / "ckpt", method, s1, h1)

    def killed(path, obj):
        raise KeyboardInterrupt  # the process dies here, with no clean-up

    monkeypatch.setattr(_checkpoint, "_write_json", killed)
    monkeypatch.setattr(_checkpoint.shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(KeyboardInterrupt):
        jo.io.save(tmp_path / "ckpt", method, s2, h2)
    monkeypatch.undo()
    leftovers = [p for p in listing(tmp_path) if p != "ckpt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".ckpt.tmp-")
    with pytest.raises(jo.io.CheckpointError, match="metadata.json is missing"):
        jo.io.load(tmp_path / leftovers[0], method)
    assert_states_equal(jo.io.load(tmp_path / "ckpt", method)[0], s1)
    jo.io.save(tmp_path / "ckpt", method, s2, h2)  # the next save removes the leftover
    assert listing(tmp_path) == ["ckpt"]


def test_kill_between_the_renames_loses_nothing(tmp_path, two_runs, monkeypatch):
    method, (s1, h1), (s2, h2) = two_runs
    jo.io.save(tmp_path / "ckpt", method, s1, h1)
    replace = os.replace

    def killed(src, dst):
        if Path(src).name.startswith(".ckpt.tmp-"):
            raise KeyboardInterrupt  # the previous checkpoint was moved aside, the new one not yet in
        return replace(src, dst)

    monkeypatch.setattr(_checkpoint.os, "replace", killed)
    monkeypatch.setattr(_checkpoint.shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(KeyboardInterrupt):
        jo.io.save(tmp_path / "ckpt", method, s2, h2)
    monkeypatch.undo()
    assert "ckpt" not in listing(tmp_path)
    with pytest.warns(jo.io.LoadWarning, match="interrupted"):
        state, _ = jo.io.load(tmp_path / "ckpt", method)
    assert_states_equal(state, s1)
    jo.io.save(tmp_path / "ckpt", method, s2, h2)
    assert listing(tmp_path) == ["ckpt"]
    assert_states_equal(jo.io.load(tmp_path / "ckpt", method)[0], s2)


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        ValueError("tensorstore: No space left on device"),
    ],
    ids=["oserror", "tensorstore"],
)
def test_disk_full_is_a_clear_error_and_keeps_the_previous_checkpoint(
    tmp_path, two_runs, monkeypatch, failure
):
    method, (s1, h1), (s2, h2) = two_runs
    jo.io.save(tmp_path / "ckpt", method, s1, h1)
    write = _checkpoint._write_arrays

    def full(directory, arrays):
        write(directory, arrays)  # the arrays went out, then the disk filled up
        raise failure

    monkeypatch.setattr(_checkpoint, "_write_arrays", full)
    with pytest.raises(
        jo.io.CheckpointSaveError,
        match=r"Could not write the checkpoint .*ckpt.*disk is full.*unchanged",
    ) as info:
        jo.io.save(tmp_path / "ckpt", method, s2, h2)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert listing(tmp_path) == ["ckpt"]
    assert_states_equal(jo.io.load(tmp_path / "ckpt", method)[0], s1)


def test_permission_denied_is_a_clear_error(tmp_path, two_runs, monkeypatch):
    method, (s1, h1), (s2, h2) = two_runs
    jo.io.save(tmp_path / "ckpt", method, s1, h1)
    mkdir = os.mkdir

    def denied(path, *args, **kwargs):
        if Path(path).parent == tmp_path:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return mkdir(path, *args, **kwargs)

    monkeypatch.setattr(_checkpoint.os, "mkdir", denied)
    with pytest.raises(
        jo.io.CheckpointSaveError, match="Permission denied.*choose a directory you can write to"
    ) as info:
        jo.io.save(tmp_path / "ckpt", method, s2, h2)
    assert info.value.errno == errno.EACCES
    monkeypatch.undo()
    assert_states_equal(jo.io.load(tmp_path / "ckpt", method)[0], s1)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory_is_a_clear_error(tmp_path, two_runs):
    method, (s1, h1), (s2, h2) = two_runs
    jo.io.save(tmp_path / "ckpt", method, s1, h1)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(jo.io.CheckpointSaveError, match="Permission denied"):
            jo.io.save(tmp_path / "ckpt", method, s2, h2)
    finally:
        tmp_path.chmod(0o755)
    assert_states_equal(jo.io.load(tmp_path / "ckpt", method)[0], s1)


def test_parent_directories_are_created(tmp_path, two_runs):
    method, (s1, h1), _ = two_runs
    path = jo.io.save(tmp_path / "runs" / "a" / "ckpt", method, s1, h1)
    assert_states_equal(jo.io.load(path, method)[0], s1)


def test_parent_that_is_a_file_is_a_clear_error(tmp_path, two_runs):
    method, (s1, h1), _ = two_runs
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(
        jo.io.CheckpointSaveError, match="Could not write the checkpoint .*file/ckpt"
    ):
        jo.io.save(tmp_path / "file" / "ckpt", method, s1, h1)


def test_state_must_hold_arrays(tmp_path, two_runs):
    method, (s1, h1), _ = two_runs
    bad = eqx.tree_at(lambda s: s.loss, s1, "a string")
    with pytest.raises(TypeError, match=r"state leaf `.loss` is a str"):
        jo.io.save(tmp_path / "ckpt", method, bad, h1)


# -- numbered checkpoints ------------------------------------------------------------------------------
def test_save_step_keeps_the_newest_and_latest_finds_them(tmp_path):
    method, state = build("metamer_adam", False)
    directory = tmp_path / "run"
    assert jo.io.latest(directory) is None and jo.io.all_steps(directory) == []
    for _ in range(4):
        state, history = run(method, state, "metamer_adam", 1)
        path = jo.io.save_step(directory, method, state, history, keep=2)
        assert jo.io.latest(directory) == path
    assert jo.io.all_steps(directory) == [3, 4]
    assert path.name == "step_000004"
    (directory / ".step_000005.tmp-0123abcd").mkdir()  # a killed save
    (directory / "step_000009").mkdir()  # not complete: no metadata.json
    assert jo.io.latest(directory) == path
    jo.io.save_step(directory, method, state, history, step=5, keep=None)
    assert jo.io.all_steps(directory) == [3, 4, 5]
    assert ".step_000005.tmp-0123abcd" not in listing(directory)
    loaded, _ = jo.io.load(jo.io.latest(directory), method)
    assert_states_equal(loaded, state)


def test_save_step_argument_errors(tmp_path, two_runs):
    method, (s1, h1), _ = two_runs
    with pytest.raises(ValueError, match="`keep` must be an int >= 1"):
        jo.io.save_step(tmp_path, method, s1, h1, keep=0)
    with pytest.raises(ValueError, match="`step` must be an int >= 0"):
        jo.io.save_step(tmp_path, method, s1, h1, step=-1)


# -- committed fixtures (format version 1) -------------------------------------------------------------
@pytest.mark.parametrize("name", list(MAKE.BUILDERS))
def test_committed_v1_checkpoint_loads_and_continues(name):
    path = FIXTURES / "checkpoints" / "v1" / name
    method = MAKE.BUILDERS[name]()  # built again, as a user would
    meta = jo.io.read_metadata(path)
    state, history = jo.io.load(path, method)
    iteration = np.asarray(state.iteration)
    np.testing.assert_array_equal(iteration, meta["iteration"])
    assert history.losses.shape[-1] == MAKE.N_ITER == np.max(iteration)
    more, more_history = run(method, state, "metamer", 2)
    np.testing.assert_array_equal(np.asarray(more.iteration), iteration + 2)
    assert np.all(np.isfinite(more_history.losses))


# -- under jax.distributed: every process saves and loads its own checkpoint ----------------------------
# One process of a two-process jax.distributed job (on CPU): it runs its own Metamer (its own target
# image), saves it into its own directory, loads it back in the same process and checks the bits,
# writes the state and history for the test to compare, and (process 1) loads the checkpoint that a
# single-process program wrote for it.
DISTRIBUTED_SCRIPT = """
import sys
from pathlib import Path

import jax

port, index, out, cache = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
jax.config.update("jax_enable_x64", True)  # as tests/conftest.py: the methods match, the cache helps
jax.config.update("jax_compilation_cache_dir", cache)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=index)
assert jax.process_count() == 2 and jax.process_index() == index

import numpy as np
import jaxoptic as jo
from test_io import distributed_method, flat

method = distributed_method(index)
state, history = jo.synthesize(method, method.init(key=jax.random.key(index)), max_iter=3, progress=False)
path = jo.io.save(out / f"process{index}" / "ckpt", method, state, history)
saved = flat(state, history)
loaded = flat(*jo.io.load(path, method))
assert sorted(loaded) == sorted(saved)
for key, value in saved.items():
    assert loaded[key].dtype == value.dtype and loaded[key].tobytes() == value.tobytes(), key
np.savez(out / f"process{index}.npz", **saved)
if index == 1:
    np.savez(out / "single.npz", **flat(*jo.io.load(out / "single", method)))
"""


def distributed_method(index):
    """The Metamer process ``index`` of the distributed test runs (each its own target image)."""
    return jo.Metamer(jo.data.camera()[:, :16, :16] + index * 0.01, GAUSS)


def flat(state, history=None):
    """``{name: numpy array}`` of a state's leaves (key data for keys) and a history's arrays."""
    out = {}
    if history is not None:
        out["history/iterations"] = history.iterations
        out.update({f"history/{k}": v for k, v in history.records.items()})
    for path, x in jax.tree_util.tree_flatten_with_path(state)[0]:
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out[jax.tree_util.keystr(path)] = np.asarray(x)
    return out


def assert_same_arrays(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key


def test_each_process_of_a_distributed_job_saves_and_loads_its_own_checkpoint(tmp_path):
    # orbax alone writes no arrays into process 1's checkpoint: jaxoptic.io runs it in a child process
    method = distributed_method(1)
    initial = method.init(key=jax.random.key(5))
    jo.io.save(tmp_path / "single", method, initial)  # a single-process checkpoint, for process 1
    script = tmp_path / "worker.py"
    script.write_text(DISTRIBUTED_SCRIPT)
    port, cache = free_port(), jax.config.jax_compilation_cache_dir
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(map(str, Path(__file__).resolve().parents[:2]))
    )
    env.pop("XLA_FLAGS", None)
    run_together(
        [
            dict(
                args=[sys.executable, str(script), str(port), str(index), str(tmp_path), cache],
                env=env,
            )
            for index in (0, 1)
        ]
    )
    for index in (0, 1):
        # each process wrote its own checkpoint (and nothing else), which loads in one process
        assert listing(tmp_path / f"process{index}") == ["ckpt"]
        saved = dict(np.load(tmp_path / f"process{index}.npz", allow_pickle=False))
        loaded = jo.io.load(tmp_path / f"process{index}" / "ckpt", distributed_method(index))
        assert_same_arrays(flat(*loaded), saved)
    lanes = [np.load(tmp_path / f"process{i}.npz")[".image"].tobytes() for i in (0, 1)]
    assert lanes[0] != lanes[1]
    # and process 1 read the single-process checkpoint as a single process does
    assert_same_arrays(dict(np.load(tmp_path / "single.npz", allow_pickle=False)), flat(initial))


# the same child process, made to run here (as in a multi-process program) by patching the test
def _arrays_of_every_kind():
    rng = np.random.default_rng(0)
    return {
        "float32": jnp.asarray(rng.standard_normal((2, 3)), jnp.float32),
        "float64": jnp.asarray([np.nan, -0.0, 1e-310]),
        "int32": jnp.arange(-2, 3, dtype=jnp.int32),
        "bool": jnp.asarray([True, False, True]),
        "uint32": jnp.asarray([1, 2**32 - 1], jnp.uint32),
        "bfloat16": jnp.asarray(rng.standard_normal(3), jnp.bfloat16),
        "float16": jnp.asarray([1.5, -0.0], jnp.float16),
        "complex64": jnp.asarray([1 + 2j], jnp.complex64),
        "scalar": jnp.float32(3.0),
        "keys": jax.random.split(jax.random.key(5), 3),
        "rbg_key": jax.random.key(7, impl="rbg"),
        "numpy_int64": np.arange(3, dtype=np.int64),
        "numpy_bfloat16": np.asarray([0.5, 2.0], dtype=jnp.bfloat16),
    }


def test_child_process_writes_the_files_orbax_writes_here_and_reads_them_bitwise(
    tmp_path, monkeypatch
):
    arrays = _arrays_of_every_kind()
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = {
        k: np.broadcast_to(np.zeros((), v.dtype), v.shape)
        if isinstance(v, np.ndarray)
        else jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=device)
        for k, v in arrays.items()
    }
    for where in ("here", "child"):
        monkeypatch.setattr(_isolated, "needed", lambda where=where: where == "child")
        (tmp_path / where).mkdir()
        _checkpoint._write_arrays(tmp_path / where / "arrays", arrays)
        assert listing(tmp_path / where) == ["arrays"]  # the transfer files are gone
    for name in ("_METADATA", "_sharding", "array_metadatas/process_0"):
        assert (tmp_path / "here/arrays" / name).read_bytes() == (
            tmp_path / "child/arrays" / name
        ).read_bytes(), name
    # each reads what the other wrote (the child reading its own files: the distributed test above)
    for reader, writer in [("child", "here"), ("here", "child")]:
        monkeypatch.setattr(_isolated, "needed", lambda reader=reader: reader == "child")
        stored = _checkpoint._stored_metadata(tmp_path / writer / "arrays")
        restored = _checkpoint._read_arrays(tmp_path / writer / "arrays", abstract)
        assert sorted(restored) == sorted(stored) == sorted(arrays)
        for key, value in arrays.items():
            assert stored[key] == _checkpoint._on_disk(value.shape, value.dtype), key
            got = restored[key]
            assert got.dtype == value.dtype and got.shape == value.shape, key
            assert _checkpoint.array_sha256(got) == _checkpoint.array_sha256(value), key
    assert listing(tmp_path) == ["child", "here"]


def test_child_process_write_error_is_a_checkpoint_save_error(tmp_path, monkeypatch, two_runs):
    method, (s1, h1), _ = two_runs
    jo.io.save(tmp_path / "ckpt", method, s1, h1)
    fake = tmp_path / "fake" / "orbax"  # an orbax that fails as on a full disk
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import errno\nraise OSError(errno.ENOSPC, 'No space left on device')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    monkeypatch.setattr(_isolated, "needed", lambda: True)
    with pytest.raises(
        jo.io.CheckpointSaveError, match=r"separate process.*No space left.*disk is full"
    ) as info:
        jo.io.save(tmp_path / "ckpt", method, s1, h1)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert listing(tmp_path) == ["ckpt", "fake"]
    assert_states_equal(jo.io.load(tmp_path / "ckpt", method)[0], s1)


def test_child_process_read_error_is_a_corrupted_checkpoint(tmp_path, adam_ckpt, monkeypatch):
    method, _ = build("metamer_adam", False)
    shutil.copytree(adam_ckpt, tmp_path / "ckpt")
    shutil.rmtree(tmp_path / "ckpt" / "arrays" / "ocdbt.process_0")
    monkeypatch.setattr(_isolated, "needed", lambda: True)
    with pytest.raises(
        jo.io.CheckpointError, match=r"corrupted: reading the arrays failed.*separate process"
    ):
        jo.io.load(tmp_path / "ckpt", method)
    assert listing(tmp_path) == ["ckpt"]
