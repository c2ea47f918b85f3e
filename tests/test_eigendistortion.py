"""Eigendistortion: top and bottom eigenvectors of the Fisher matrix JᵀJ, matrix-free (Lanczos, power)
or dense (exact), run through jaxoptic.synthesize; parity with plenoptic 2.1.1 (float64)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference

import jaxoptic as jo
from jaxoptic.synthesis import _driver
from jaxoptic.synthesis._eigendistortion import EXACT_MAX_SIZE

REF = load_reference("eigendistortion")


class Tanh(eqx.Module):
    """``tanh(W x)`` with a fixed random ``W`` (2n x n): a cheap model with a well-separated spectrum."""

    weight: jax.Array

    def __call__(self, x):
        return jnp.tanh(self.weight @ x.reshape(-1))


def tanh_model(n: int, seed: int = 0) -> Tanh:
    w = np.random.default_rng(seed).standard_normal((2 * n, n)) / np.sqrt(n)
    return Tanh(jnp.asarray(w))


def dense_eigh(model, image):
    """Reference: the dense Jacobian (jax.jacrev), F = JᵀJ and numpy's eigh, descending."""
    f = lambda v: jnp.ravel(model(v.reshape(image.shape)))
    J = np.asarray(jax.jacrev(f)(image.reshape(-1)))
    w, v = np.linalg.eigh(J.T @ J)
    return w[::-1], v[:, ::-1].T


CHUNK = 500  # one chunk length everywhere: the compiled chunk is reused across tests


def run(eig, key=0, **kwargs):
    kwargs.setdefault("max_iter", 3000)
    kwargs.setdefault("chunk_size", CHUNK)
    return jo.synthesize(eig, eig.init(key=jax.random.key(key)), progress=False, **kwargs)


def abs_cos(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return abs(float(a @ b)) / (np.linalg.norm(a) * np.linalg.norm(b))


# ---------------------------------------------------------------------------------------------------
# accuracy on OnOff at 32x32 (float64) against dense eigh and plenoptic


@pytest.fixture(scope="module")
def onoff():
    return jo.models.OnOff((31, 31), pretrained=True)


@pytest.fixture(scope="module")
def image32():
    return jnp.asarray(REF["onoff32/input"])


@pytest.fixture(scope="module")
def solved(onoff, image32):
    """Converged states of each method (k=1) with a tight residual tolerance."""
    out = {}
    for method in ("lanczos", "power", "exact"):
        eig = jo.Eigendistortion(image32, onoff, method=method)
        out[method] = run(eig, stop_criterion=1e-9, max_iter=20000)
    return out


@pytest.mark.parametrize("method", ["lanczos", "power", "exact"])
def test_top_and_bottom_match_dense_eigh_of_the_jacobian(solved, onoff, image32, method):
    vals, vecs = dense_eigh(onoff, image32)
    state, _ = solved[method]
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    np.testing.assert_allclose(state.eigenvalues, vals[[0, -1]], rtol=1e-6)
    assert abs_cos(state.eigendistortions[0], vecs[0]) >= 0.9999
    assert abs_cos(state.eigendistortions[1], vecs[-1]) >= 0.9999


@pytest.mark.parametrize("method", ["lanczos", "power", "exact"])
def test_matches_plenoptic_exact(solved, method):
    state, _ = solved[method]
    ref_vals = REF["onoff32/exact/eigenvalues"]
    np.testing.assert_allclose(state.eigenvalues, ref_vals[[0, -1]], rtol=1e-6)
    assert abs_cos(state.eigendistortions[0], REF["onoff32/exact/top"][0]) >= 0.9999
    assert abs_cos(state.eigendistortions[1], REF["onoff32/exact/bottom"][-1]) >= 0.9999
    np.testing.assert_array_equal(state.eigenindex, [0, 1023])


def test_matches_plenoptic_power_run_to_convergence(solved):
    state, _ = solved["power"]
    np.testing.assert_allclose(state.eigenvalues, REF["onoff32/power/eigenvalues"], rtol=1e-6)
    for ours, ref in zip(
        state.eigendistortions, REF["onoff32/power/eigendistortions"], strict=True
    ):
        assert abs_cos(ours, ref) >= 0.9999


def test_exact_spectrum_matches_plenoptic(solved):
    state, _ = solved["exact"]
    assert state.spectrum.shape == (1024,)
    assert_parity(state.spectrum, REF["onoff32/exact/eigenvalues"], "exact spectrum")
    assert int(state.iteration) == 1


def test_residual_stop_beats_plenoptics_eigenvalue_change_stop(onoff, image32):
    # plenoptic's default power stops when λ changes by < 1e-7; its bottom vector is then far off
    true_bottom = REF["onoff32/exact/bottom"][-1]
    plenoptic_cos = abs_cos(REF["onoff32/power_default/eigendistortions"][1], true_bottom)
    assert plenoptic_cos < 0.99
    state, _ = run(jo.Eigendistortion(image32, onoff))  # default stop_criterion
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    assert float(state.loss) <= jo.Eigendistortion.default_stop_criterion == 1e-4
    assert abs_cos(state.eigendistortions[1], true_bottom) > 0.9999


def test_lanczos_k2_matches_plenoptic_exact(onoff, image32):
    state, _ = run(jo.Eigendistortion(image32, onoff, k=2), stop_criterion=1e-9)
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    ref = REF["onoff32/exact/eigenvalues"]
    np.testing.assert_allclose(state.eigenvalues, ref[[0, 1, -2, -1]], rtol=1e-6)
    refs = [*REF["onoff32/exact/top"][:2], *REF["onoff32/exact/bottom"][-2:]]
    for ours, r in zip(state.eigendistortions, refs, strict=True):
        assert abs_cos(ours, r) >= 0.9999
    np.testing.assert_array_equal(state.eigenindex, [0, 1, 1022, 1023])


# ---------------------------------------------------------------------------------------------------
# results and certificates (cheap model)


@pytest.fixture(scope="module")
def small():
    """An 8x8 image and a tanh(Wx) model, with its dense eigendecomposition."""
    image = jnp.asarray(np.random.default_rng(1).uniform(size=(1, 8, 8)))
    model = tanh_model(64)
    return image, model, dense_eigh(model, image)


@pytest.mark.parametrize(
    ("method", "k"), [("lanczos", 1), ("lanczos", 3), ("power", 3), ("exact", 3)]
)
def test_results_are_top_k_then_bottom_k_in_plenoptic_order(small, method, k):
    image, model, (vals, vecs) = small
    eig = jo.Eigendistortion(image, model, k=k, method=method)
    state, _ = run(eig, stop_criterion=1e-10, max_iter=20000)
    assert state.eigendistortions.shape == (2 * k, 1, 8, 8)
    assert state.eigenvalues.shape == state.residuals.shape == (2 * k,)
    np.testing.assert_array_equal(state.eigenindex, [*range(k), *range(64 - k, 64)])
    np.testing.assert_allclose(state.eigenvalues, vals[state.eigenindex], rtol=1e-8)
    assert np.all(np.diff(np.asarray(state.eigenvalues)) <= 0)  # descending
    norms = np.linalg.norm(np.asarray(state.eigendistortions).reshape(2 * k, -1), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)
    for v, i in zip(state.eigendistortions, np.asarray(state.eigenindex), strict=True):
        assert abs_cos(v, vecs[i]) >= 0.9999


def test_residuals_certify_each_pair(small):
    image, model, _ = small
    eig = jo.Eigendistortion(image, model, k=2, krylov_size=12)
    state, history = run(eig, stop_criterion=1e-6)
    lam_max = float(state.eigenvalues[0])
    for lam, v, r in zip(state.eigenvalues, state.eigendistortions, state.residuals, strict=True):
        direct = np.linalg.norm(np.asarray(eig.fisher_vector_product(v) - lam * v)) / lam_max
        np.testing.assert_allclose(r, direct, rtol=1e-6, atol=1e-14)
        assert direct <= 1e-6
    assert float(state.loss) == float(np.max(state.residuals))
    assert history.losses[-1] == state.loss
    assert set(history.records) == {"losses", "top_eigenvalue", "bottom_eigenvalue"}


def test_fisher_vector_product_is_jt_j_v(small):
    image, model, _ = small
    f = lambda v: jnp.ravel(model(v.reshape(image.shape)))
    J = np.asarray(jax.jacrev(f)(image.reshape(-1)))
    v = jnp.asarray(np.random.default_rng(3).standard_normal(image.shape))
    eig = jo.Eigendistortion(image, model)
    np.testing.assert_allclose(
        eig.fisher_vector_product(v).reshape(-1), J.T @ (J @ np.ravel(v)), rtol=1e-12, atol=1e-14
    )


def test_tighter_tolerance_takes_more_steps_and_stops_converged(small):
    image, model, _ = small
    eig = jo.Eigendistortion(image, model, krylov_size=6)
    loose, _ = run(eig, stop_criterion=1e-3)
    tight, hist = run(eig, stop_criterion=1e-10)
    assert int(loose.iteration) < int(tight.iteration)
    for s, tol in ((loose, 1e-3), (tight, 1e-10)):
        assert jo.Status(int(s.status)) is jo.Status.CONVERGED
        assert float(s.loss) <= tol
    # it stopped at the first step whose residuals were all below the tolerance
    assert np.all(hist.losses[:-1] > 1e-10)


def test_small_krylov_basis_restarts_and_finds_the_same_pairs(small):
    image, model, (vals, vecs) = small
    state, _ = run(jo.Eigendistortion(image, model, krylov_size=6), stop_criterion=1e-10)
    assert int(state.iteration) > 12  # several thick restarts
    np.testing.assert_allclose(state.eigenvalues, vals[[0, -1]], rtol=1e-9)
    assert abs_cos(state.eigendistortions[1], vecs[-1]) >= 0.99999


def test_power_finds_the_top_block_first_then_the_bottom(small):
    image, model, _ = small
    eig = jo.Eigendistortion(image, model, method="power")
    state, history = run(eig, stop_criterion=1e-8, max_iter=20000)
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED and int(state.phase) == 1
    top_done = np.flatnonzero(np.isfinite(history.bottom_eigenvalue))[0]
    assert 0 < top_done < len(history) - 1
    # the top estimate is frozen once certified
    assert np.all(history.top_eigenvalue[top_done:] == history.top_eigenvalue[-1])


def test_exact_with_k_half_the_size_is_the_full_eigenbasis():
    image = jnp.asarray(np.random.default_rng(2).uniform(size=(1, 4, 4)))
    model = tanh_model(16, seed=3)
    state, _ = run(jo.Eigendistortion(image, model, k=8, method="exact"), max_iter=5)
    assert int(state.iteration) == 1
    v = np.asarray(state.eigendistortions).reshape(16, 16)
    np.testing.assert_allclose(v @ v.T, np.eye(16), atol=1e-12)
    np.testing.assert_allclose(state.eigenvalues, state.spectrum, rtol=1e-12)


def test_identity_model_has_unit_spectrum_and_lanczos_survives_breakdown():
    # F = I: every Krylov space is invariant, so each step continues from a fresh direction
    image = jnp.asarray(np.random.default_rng(0).uniform(size=(1, 4, 4)))
    eig = jo.Eigendistortion(image, jo.models.Identity(), k=2)
    state, _ = run(eig, stop_criterion=1e-12)
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    np.testing.assert_allclose(state.eigenvalues, 1.0, rtol=1e-12)
    v = np.asarray(state.eigendistortions).reshape(4, -1)
    np.testing.assert_allclose(v @ v.T, np.eye(4), atol=1e-12)  # four distinct directions


def test_a_basis_that_spans_the_whole_space_gives_exact_pairs():
    image = jnp.asarray(np.random.default_rng(0).uniform(size=(1, 2, 2)))
    eig = jo.Eigendistortion(image, tanh_model(4), k=2)  # 2k = n: the basis must span R^4
    state, _ = run(eig, stop_criterion=0.0)
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    vals, _ = dense_eigh(tanh_model(4), image)
    np.testing.assert_allclose(state.eigenvalues, vals, rtol=1e-10)


def test_bottom_of_a_rank_deficient_model_is_a_null_vector():
    # 2x2 average pooling: 16 outputs for 64 pixels, so F is singular
    image = jnp.asarray(np.random.default_rng(0).uniform(size=(1, 8, 8)))
    pool = lambda x: x.reshape(1, 4, 2, 4, 2).mean(axis=(2, 4))
    state, _ = run(jo.Eigendistortion(image, pool), stop_criterion=1e-10)
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    np.testing.assert_allclose(state.eigenvalues[0], 0.25, rtol=1e-10)
    assert abs(float(state.eigenvalues[1])) < 1e-10
    np.testing.assert_allclose(pool(state.eigendistortions[1]), 0.0, atol=1e-10)


# ---------------------------------------------------------------------------------------------------
# the synthesis protocol: keys, jit, continuing, batches, compilation, dtypes


def test_results_are_reproducible_from_the_key(small):
    image, model, _ = small
    eig = jo.Eigendistortion(image, model)
    a, _ = run(eig, key=3, max_iter=10)
    b, _ = run(eig, key=3, max_iter=10)
    c, _ = run(eig, key=4, max_iter=10)
    np.testing.assert_array_equal(a.eigendistortions, b.eigendistortions)
    assert not np.array_equal(a.eigendistortions, c.eigendistortions)


def test_step_is_pure_and_jit_equals_eager(small):
    image, model, _ = small
    eig = jo.Eigendistortion(image, model)
    state = jax.jit(eig.step)(eig.init(key=jax.random.key(0)))  # past the first, special step
    eager = eig.step(state)
    jitted = jax.jit(eig.step)(state)
    again = jax.jit(eig.step)(state)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(jitted.iteration) == 2


def test_continuing_equals_one_long_run(small):
    image, model, _ = small
    eig = jo.Eigendistortion(image, model, krylov_size=6)  # crosses restarts
    s1, h1 = run(eig, max_iter=9, stop_criterion=-1.0)
    s2, h2 = jo.synthesize(
        eig, s1, max_iter=11, stop_criterion=-1.0, chunk_size=CHUNK, progress=False
    )
    long, hl = run(eig, max_iter=20, stop_criterion=-1.0)
    for a, b in zip(jax.tree.leaves(s2), jax.tree.leaves(long), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal((h1 + h2).losses, hl.losses)


def test_state_holds_arrays_only(small):
    image, model, _ = small
    for method in ("lanczos", "power", "exact"):
        state = jo.Eigendistortion(image, model, method=method).init(key=jax.random.key(0))
        for leaf in jax.tree.leaves(state):
            assert isinstance(leaf, jax.Array)
            assert not jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


@pytest.mark.parametrize("method", ["lanczos", "power", "exact"])
def test_batched_lanes_equal_solo_runs(method):
    images = jnp.asarray(np.random.default_rng(5).uniform(size=(3, 1, 8, 8)))
    keys = jax.random.split(jax.random.key(7), 3)
    model = tanh_model(64)

    def build(im, k):
        eig = jo.Eigendistortion(im, model, k=2, method=method, krylov_size=12)
        return eig, eig.init(key=k)

    eigs, states = eqx.filter_vmap(build)(images, keys)
    opts = dict(max_iter=400, stop_criterion=1e-9, chunk_size=CHUNK, progress=False)
    bstate, bhist = jo.synthesize(eigs, states, **opts)
    assert bstate.eigendistortions.shape == (3, 4, 1, 8, 8)
    for i in range(3):
        eig, state = build(images[i], keys[i])
        solo, hist = jo.synthesize(eig, state, **opts)
        assert int(bstate.iteration[i]) == int(solo.iteration)
        assert int(bstate.status[i]) == int(solo.status)
        np.testing.assert_allclose(bstate.eigenvalues[i], solo.eigenvalues, rtol=1e-10)
        np.testing.assert_allclose(
            bstate.eigendistortions[i], solo.eigendistortions, rtol=1e-8, atol=1e-10
        )
        n = len(hist)
        np.testing.assert_allclose(bhist.losses[i, :n], hist.losses, rtol=1e-5, atol=1e-13)


def test_repeated_calls_and_new_images_do_not_recompile(small):
    image, model, _ = small
    eig = jo.Eigendistortion(image, model)
    state, _ = run(eig, max_iter=3, stop_criterion=-1.0)
    before = _driver.TRACE_COUNT
    jo.synthesize(eig, state, max_iter=5, stop_criterion=-1.0, chunk_size=CHUNK, progress=False)
    # another image of the same shape, same model: the linearisation's program is shared
    other = jo.Eigendistortion(image[:, ::-1] * 0.5, model)
    run(other, key=1, max_iter=4)
    assert _driver.TRACE_COUNT == before


def test_float32_input_gives_float32_results():
    image = jo.data.camera()[:, 96:112, 96:112]
    model = jo.models.Gaussian((5, 5), std=1.0)
    state, history = run(jo.Eigendistortion(image, model), stop_criterion=1e-5)
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    for leaf in jax.tree.leaves(state):
        assert leaf.dtype in (jnp.float32, jnp.int32, jnp.bool_)
    assert history.losses.dtype == np.float32
    vals, vecs = dense_eigh(model, image.astype(jnp.float64))
    np.testing.assert_allclose(state.eigenvalues[0], vals[0], rtol=1e-5)
    assert abs_cos(state.eigendistortions[0], vecs[0]) >= 0.9999


# ---------------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize("k", [0, -1, 33, 1.5, True])
def test_bad_k_is_refused(small, k):
    image, model, _ = small
    with pytest.raises(ValueError, match="`k`"):
        jo.Eigendistortion(image, model, k=k)


def test_unknown_method_is_refused(small):
    image, model, _ = small
    with pytest.raises(ValueError, match="`method` must be one of"):
        jo.Eigendistortion(image, model, method="randomized_svd")


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf])
def test_non_finite_image_is_refused(small, bad):
    image, model, _ = small
    with pytest.raises(ValueError, match="`image` contains NaN or Inf"):
        jo.Eigendistortion(image.at[0, 1, 1].set(bad), model)


def test_wrong_ndim_is_refused(small):
    image, model, _ = small
    with pytest.raises(ValueError, match=r"\(channels, height, width\)"):
        jo.Eigendistortion(image[0], model)


def test_zero_jacobian_is_a_clear_error(small):
    image, _, _ = small
    with pytest.raises(ValueError, match="Jacobian at `image` is zero"):
        jo.Eigendistortion(image, lambda x: jax.nn.relu(x - 2.0))  # flat for pixels < 2


@pytest.mark.parametrize("method", ["lanczos", "exact"])
def test_zero_jacobian_lane_in_a_batch_stops_with_a_status_not_nan_eigenvalues(method):
    # inside vmap construction cannot check; the lane ends NONFINITE instead of reporting NaNs
    images = jnp.stack([jnp.full((1, 2, 2), 0.5), jnp.linspace(2.5, 3.5, 4).reshape(1, 2, 2)])

    def build(im, k):
        eig = jo.Eigendistortion(im, lambda x: jax.nn.relu(x - 2.0) ** 2, method=method)
        return eig, eig.init(key=k)

    eigs, states = eqx.filter_vmap(build)(images, jax.random.split(jax.random.key(0), 2))
    with pytest.raises(jo.NonFiniteLossError, match="lane"):
        jo.synthesize(eigs, states, max_iter=50, progress=False)
    state, _ = jo.synthesize(eigs, states, max_iter=50, progress=False, throw=False)
    assert [jo.Status(int(s)) for s in state.status] == [jo.Status.NONFINITE, jo.Status.CONVERGED]


def test_model_with_non_finite_output_or_jacobian_is_refused(small):
    image, _, _ = small
    with pytest.raises(ValueError, match="representation of `image` contains NaN"):
        jo.Eigendistortion(image, lambda x: jnp.log(x - 2.0))
    with pytest.raises(ValueError, match="Jacobian at `image` contains NaN"):
        jo.Eigendistortion(image.at[0, 0, 0].set(0.0), lambda x: jnp.sqrt(x))


def test_exact_refuses_large_images():
    side = int(np.sqrt(EXACT_MAX_SIZE)) + 1
    image = jnp.zeros((1, side, side))
    with pytest.raises(ValueError, match='method="exact".*at most 4096'):
        jo.Eigendistortion(image, lambda x: x, method="exact")


@pytest.mark.parametrize("size", [2, 65, 2.0])
def test_bad_krylov_size_is_refused(small, size):
    image, model, _ = small
    with pytest.raises(ValueError, match="krylov_size"):
        jo.Eigendistortion(image, model, krylov_size=size)


def test_init_needs_a_key_and_synthesize_options_are_checked(small):
    image, model, _ = small
    eig = jo.Eigendistortion(image, model)
    with pytest.raises(ValueError, match="key="):
        eig.init()
    with pytest.raises(TypeError, match="PRNG key"):
        eig.init(key=0)
    raw = eig.init(key=jax.random.PRNGKey(3))  # raw uint32 keys work too
    np.testing.assert_array_equal(raw.basis, eig.init(key=jax.random.key(3)).basis)
    with pytest.raises(TypeError, match="does not take the synthesize option"):
        jo.synthesize(eig, eig.init(key=jax.random.key(0)), max_iter=1, change_scale_criterion=1)


def test_model_must_be_callable(small):
    image, _, _ = small
    with pytest.raises(TypeError, match="`model` must be callable"):
        jo.Eigendistortion(image, "OnOff")
