"""Coarse-to-fine metamer synthesis: the scale schedule, its bookkeeping and its errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxoptic as jo


@pytest.fixture(scope="module")
def image():
    return jo.data.gravel()[:, :32, :32]


@pytest.fixture(scope="module")
def ps():
    return jo.models.PortillaSimoncelli((32, 32), n_scales=2, spatial_corr_width=3)


@pytest.fixture(scope="module")
def met(image, ps):
    return jo.MetamerCTF(image, ps, loss_function=jo.losses.l2_norm, optimizer=optax.adam(0.01))


@pytest.fixture(scope="module")
def run(met):
    state = met.init(key=jax.random.key(0))
    return jo.synthesize(
        met, state, max_iter=30, progress=False, change_scale_criterion=None, ctf_iters_to_check=5
    )


# one set of shapes for every run of `met`, so the tests share one compiled program
SETTINGS = dict(stop_iters_to_check=5, ctf_iters_to_check=5, change_scale_criterion=None)


class ScalesOnly(eqx.Module):
    """The same model without `representation_scales`, so MetamerCTF must call model(x, scales=...)."""

    ps: jo.models.PortillaSimoncelli

    @property
    def scales(self):
        return self.ps.scales

    def __call__(self, x, scales=None):
        return self.ps(x, scales=scales)


def test_stages_follow_the_model_scales(met, image, ps):
    assert met.scales == ("pixel_statistics", "residual_lowpass", 1, 0, "all")
    sep = jo.MetamerCTF(image, ps, coarse_to_fine="separate")
    assert sep.scales == ("pixel_statistics", "residual_lowpass", 1, 0, "residual_highpass", "all")


def test_schedule_matches_plenoptic_bookkeeping(met, run):
    state, history = run
    # plenoptic 2.1.1, PS n_scales=2, synthesize(change_scale_criterion=None, ctf_iters_to_check=5)
    assert met.scales_timing(state) == {
        "pixel_statistics": [0, 4],
        "residual_lowpass": [5, 9],
        1: [10, 14],
        0: [15, 19],
        "all": [20],
    }
    np.testing.assert_array_equal(history.stage, [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5 + [4] * 10)
    assert met.scales_finished(state) == ("pixel_statistics", "residual_lowpass", 1, 0)
    assert met.scales_remaining(state) == ("all",)


def test_stage_loss_uses_the_active_scales_and_losses_the_full_objective(met, ps, image, run):
    _, history = run
    x0 = met.init(key=jax.random.key(0)).image
    target = ps(image, scales=["pixel_statistics"])
    expected_stage = jo.losses.l2_norm(ps(x0, scales=["pixel_statistics"]), target)
    penalty = jo.penalties.range_penalty(x0)
    np.testing.assert_allclose(history.scales_loss[0], expected_stage + 0.1 * penalty, rtol=1e-5)
    np.testing.assert_allclose(history.losses[0], met.objective(x0), rtol=1e-5)
    # in the "all" stage the stage loss is the full objective
    np.testing.assert_allclose(history.scales_loss[20:], history.losses[20:], rtol=1e-6)


def test_model_without_representation_scales_gives_the_same_run(image, ps, run):
    met = jo.MetamerCTF(
        image, ScalesOnly(ps), loss_function=jo.losses.l2_norm, optimizer=optax.adam(0.01)
    )
    assert met.stage_indices is None
    _, history = jo.synthesize(
        met, met.init(key=jax.random.key(0)), max_iter=30, progress=False, **SETTINGS
    )
    np.testing.assert_allclose(history.losses, run[1].losses, rtol=1e-4)
    np.testing.assert_array_equal(history.stage, run[1].stage)


def test_convergence_waits_for_the_all_stage(met):
    state, _ = jo.synthesize(
        met,
        met.init(key=jax.random.key(0)),
        max_iter=60,
        progress=False,
        stop_criterion=1e3,  # the loss criterion alone would stop at once
        **SETTINGS,
    )
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    start_all = met.scales_timing(state)["all"][0]
    assert int(state.iteration) - 1 - start_all == 6  # first k with k - start > ctf_iters_to_check


def test_change_scale_criterion_gates_the_switch(met):
    settings = dict(SETTINGS, change_scale_criterion=1e-12)
    state, _ = jo.synthesize(
        met,
        met.init(key=jax.random.key(0)),
        max_iter=12,
        progress=False,
        stop_criterion=1e-13,
        **settings,
    )
    assert int(state.stage) == 0  # the loss keeps moving by more than 1e-12


def test_bad_arguments(met, image):
    with pytest.raises(ValueError, match="coarse_to_fine"):
        jo.MetamerCTF(image, met.model, coarse_to_fine="sideways")
    with pytest.raises(ValueError, match="scales"):
        jo.MetamerCTF(image, lambda x: x)
    state = met.init(key=jax.random.key(0))
    with pytest.raises(ValueError, match="stop_criterion"):
        jo.synthesize(met, state, max_iter=1, stop_criterion=0.1, change_scale_criterion=0.01)
    with pytest.raises(ValueError, match="ctf_iters_to_check"):
        jo.synthesize(met, state, max_iter=1, ctf_iters_to_check=0)
    with pytest.raises(TypeError, match="option"):
        jo.synthesize(met, state, max_iter=1, not_an_option=3)
    plain = jo.Metamer(image, met.model)
    with pytest.raises(TypeError, match="change_scale_criterion"):
        jo.synthesize(
            plain, plain.init(key=jax.random.key(0)), max_iter=1, change_scale_criterion=0.1
        )


def test_batched_ctf_keeps_a_schedule_per_lane(image, ps):
    imgs = jnp.stack([image, jo.data.brick()[:, :32, :32]])
    keys = jax.random.split(jax.random.key(0), 2)

    def build(im, k):
        m = jo.MetamerCTF(im, ps, loss_function=jo.losses.l2_norm, optimizer=optax.adam(0.01))
        return m, m.init(key=k)

    mets, states = eqx.filter_vmap(build)(imgs, keys)
    states, history = jo.synthesize(mets, states, max_iter=12, progress=False, **SETTINGS)
    assert history.stage.shape == (2, 12)
    # switches at the start of steps 5 and 10
    np.testing.assert_array_equal(np.asarray(states.stage), [2, 2])
    np.testing.assert_array_equal(history.stage[0], [0] * 5 + [1] * 5 + [2] * 2)
