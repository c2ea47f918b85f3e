"""Figures of synthesis runs (jaxoptic.plot, synthesis half): what each figure draws.

Each synthesis runs once per module (tiny images, few steps); the tests read back the data of the
drawn artists (image arrays, line data, dot offsets) and compare them with the run.
"""

import dataclasses

import matplotlib

matplotlib.use("Agg")

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
import pytest

import jaxoptic as jo
from jaxoptic import History
from jaxoptic import plot as jp


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image_data(ax) -> np.ndarray:
    return np.asarray(ax.images[-1].get_array())


def _lane(tree, i):
    return jax.tree.map(lambda x: x[i] if eqx.is_array(x) and np.ndim(x) > 0 else x, tree)


# ------------------------------------------------------------------------------------------------
# runs
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metamer_run():
    img = jo.data.camera()[:, 100:116, 100:116]
    met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0), optimizer=optax.adam(0.05))
    state, history = jo.synthesize(
        met, met.init(key=jax.random.key(0)), max_iter=6, store_progress=2, progress=False
    )
    return met, state, history


@pytest.fixture(scope="module")
def ps_run():
    """A Portilla-Simoncelli metamer with plenoptic's reweighted loss, not run: compiling its
    gradient would dominate this file's time. A zero-step synthesize gives the same history records
    (empty) and state as a run."""
    img = jo.data.brick()[:, :32, :32]
    ps = jo.models.PortillaSimoncelli((32, 32), n_scales=1, spatial_corr_width=3)
    loss = jo.losses.portilla_simoncelli_loss(ps, img)
    met = jo.Metamer(img, ps, loss_function=loss, optimizer=optax.adam(0.01))
    state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=0, progress=False)
    return met, state, history


def mean_abs_error(a, b):
    """A second distance, cheaper to compile than 1 - SSIM."""
    return jnp.mean(jnp.abs(a - b))


@pytest.fixture(scope="module")
def mad_set():
    img = jo.data.camera()[:, 100:116, 100:116]
    mads, states = jo.recipes.mad_competition_set(
        img,
        jo.metrics.mse,
        mean_abs_error,
        key=jax.random.key(0),
        metric_tradeoff_lambda=(1.0, 1.0),
    )
    states, history = jo.synthesize(mads, states, max_iter=4, progress=False)
    return mads, states, history


@pytest.fixture(scope="module")
def eig_run():
    img = jo.data.camera()[:, 100:108, 100:108]
    eig = jo.Eigendistortion(img, jo.models.Identity(), method="exact")  # cheap to compile
    state, history = jo.synthesize(eig, eig.init(), max_iter=1, progress=False)
    return eig, state, history


@pytest.fixture(scope="module")
def geodesic_run():
    img = jo.data.camera()[:, 100:116, 100:116]
    video = jo.synthesis.translation_sequence(img, 3)
    geo = jo.Geodesic(img, video[-1], jo.models.Identity(), n_steps=3)  # cheap to compile
    state = geo.init(initial_sequence="bridge", key=jax.random.key(0))
    state, history = jo.synthesize(geo, state, max_iter=4, store_progress=2, progress=False)
    return geo, state, history, video


@pytest.fixture(scope="module")
def ctf_run():
    """test_metamer_ctf.py's cheap coarse-to-fine run (same shapes and options, so the compiled
    program is shared): change_scale_criterion=None switches stage every 5 iterations."""
    img = jo.data.gravel()[:, :32, :32]
    ps = jo.models.PortillaSimoncelli((32, 32), n_scales=2, spatial_corr_width=3)
    met = jo.MetamerCTF(img, ps, loss_function=jo.losses.l2_norm, optimizer=optax.adam(0.01))
    state, history = jo.synthesize(
        met,
        met.init(key=jax.random.key(0)),
        max_iter=30,
        progress=False,
        change_scale_criterion=None,
        ctf_iters_to_check=5,
    )
    return met, state, history


@pytest.fixture(scope="module")
def eig_batch():
    """Two Lanczos eigendistortion runs of a pixelwise gain (eigenvalues: the squared gains, from
    0.25 to 4) that converge after different numbers of steps."""
    img = jo.data.camera()[:, 100:108, 100:108]
    gain = jnp.linspace(0.5, 2.0, 64, dtype=img.dtype).reshape(1, 8, 8)

    def build(im, key):
        eig = jo.Eigendistortion(im, lambda x: x * gain, krylov_size=16)
        return eig, eig.init(key=key)

    images = jnp.stack([img, img[:, ::-1]])
    eigs, states = eqx.filter_vmap(build)(images, jax.random.split(jax.random.key(1), 2))
    states, history = jo.synthesize(eigs, states, max_iter=60, stop_criterion=1e-3, progress=False)
    return eigs, states, history


@pytest.fixture(scope="module")
def rgb_metamer_run():
    """A metamer of a colour image (three bundled images as R, G, B), started inside [0, 1] so
    that a few small steps keep it there (RGB display would clip, with a warning)."""
    rgb = jnp.concatenate([jo.data.camera(), jo.data.brick(), jo.data.grass()])[:, 100:116, 100:116]
    met = jo.Metamer(rgb, jo.models.Gaussian((3, 3), std=1.0), optimizer=optax.adam(0.01))
    start = 0.1 + 0.8 * jax.random.uniform(jax.random.key(0), rgb.shape, rgb.dtype)
    state, history = jo.synthesize(
        met, met.init(initial_image=start), max_iter=4, store_progress=2, progress=False
    )
    return met, state, history


# ------------------------------------------------------------------------------------------------
# synthesis_imshow
# ------------------------------------------------------------------------------------------------


def test_imshow_shows_the_current_metamer(metamer_run):
    met, state, history = metamer_run
    ax = jp.synthesis_imshow(met, state, history)
    np.testing.assert_array_equal(_image_data(ax), np.asarray(state.image[0]))
    assert ax.get_title() == "Metamer [iteration=6]"


@pytest.mark.parametrize("iteration, slot", [(0, 0), (2, 1), (4, 2), (-5, 1)])
def test_imshow_shows_the_stored_image_at_iteration(metamer_run, iteration, slot):
    met, state, history = metamer_run
    ax = jp.synthesis_imshow(met, state, history, iteration=iteration)
    np.testing.assert_array_equal(_image_data(ax), history.saved_images[slot, 0])
    assert ax.get_title() == f"Metamer [iteration={history.saved_iterations[slot]}]"


def test_imshow_takes_the_nearest_stored_iteration_with_a_warning(metamer_run):
    met, state, history = metamer_run
    with pytest.warns(UserWarning, match="Iteration 3 was not stored.*showing iteration 2"):
        ax = jp.synthesis_imshow(met, state, history, iteration=3)
    np.testing.assert_array_equal(_image_data(ax), history.saved_images[1, 0])


def test_imshow_of_an_unstored_iteration_asks_for_store_progress(metamer_run):
    met, state, history = metamer_run
    unstored = dataclasses.replace(history, saved_images=None, saved_iterations=None)
    with pytest.raises(ValueError, match="store_progress"):
        jp.synthesis_imshow(met, state, unstored, iteration=2)
    with pytest.raises(ValueError, match="store_progress"):
        jp.synthesis_imshow(met, state, iteration=2)
    with pytest.raises(ValueError, match="between 0 and 6"):
        jp.synthesis_imshow(met, state, history, iteration=7)


def test_imshow_of_a_batch_shows_the_chosen_lane(mad_set):
    mads, states, history = mad_set
    for lane in (0, 3):
        ax = jp.synthesis_imshow(mads, states, history, lane=lane)
        np.testing.assert_array_equal(_image_data(ax), np.asarray(states.image[lane, 0]))
        assert ax.get_title() == f"MAD image[{lane}] [iteration=4]"


def test_a_batch_needs_a_valid_lane_and_a_single_run_none(mad_set, metamer_run):
    mads, states, history = mad_set
    with pytest.raises(ValueError, match=r"batch of 4 syntheses: pass lane=i"):
        jp.synthesis_imshow(mads, states, history)
    with pytest.raises(ValueError, match=r"`lane` must be in \[0, 4\)"):
        jp.synthesis_loss(mads, states, history, lane=4)
    met, state, single = metamer_run
    with pytest.raises(ValueError, match="not batched; leave lane=None"):
        jp.synthesis_imshow(met, state, single, lane=0)
    with pytest.raises(ValueError, match="`history` is batched but `state` is not"):
        jp.synthesis_imshow(_lane(mads, 0), _lane(states, 0), history)


def test_bad_method_state_and_channel_are_refused(metamer_run, mad_set):
    met, state, _ = metamer_run
    with pytest.raises(TypeError, match="synthesis method"):
        jp.synthesis_imshow(state, met)
    with pytest.raises(TypeError, match="must be the MetamerState"):
        jp.synthesis_imshow(met, mad_set[1])
    with pytest.raises(ValueError, match=r"`channel` must be in \[0, 1\)"):
        jp.synthesis_imshow(met, state, channel=1)
    with pytest.raises(ValueError, match="only applies to an Eigendistortion"):
        jp.synthesis_imshow(met, state, distortion_scale=2.0)


# ------------------------------------------------------------------------------------------------
# synthesis_loss
# ------------------------------------------------------------------------------------------------


def test_metamer_loss_is_the_objective_without_the_penalty(metamer_run):
    met, state, history = metamer_run
    ax = jp.synthesis_loss(met, state, history)["loss"]
    line = ax.lines[0]
    lam = float(met.penalty_lambda)
    expected = np.float64(history.losses) - lam * np.float64(history.penalties)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(7))
    np.testing.assert_allclose(line.get_ydata()[:-1], expected, rtol=1e-12)
    current = float(met.loss_and_penalty(state.image)[0])  # the loss of the image shown last
    np.testing.assert_allclose(line.get_ydata()[-1], current, rtol=1e-5)
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "Synthesis iteration"


@pytest.mark.parametrize("iteration, expected_x", [(None, 6), (3, 3), (-1, 6), (0, 0)])
def test_loss_red_dot_marks_the_iteration(metamer_run, iteration, expected_x):
    met, state, history = metamer_run
    ax = jp.synthesis_loss(met, state, history, iteration=iteration)["loss"]
    (dot,) = ax.collections
    x, y = dot.get_offsets()[0]
    assert x == expected_x
    assert y == ax.lines[0].get_ydata()[expected_x]
    np.testing.assert_array_equal(dot.get_facecolor()[0], matplotlib.colors.to_rgba("r"))


def test_loss_with_penalties_adds_a_labelled_line(metamer_run):
    met, state, history = metamer_run
    ax = jp.synthesis_loss(met, state, history, plot_penalties=True)["loss"]
    assert [line.get_label() for line in ax.lines] == ["metamer loss", "penalty"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata()[:-1], history.penalties)
    assert ax.get_legend() is not None


def test_loss_needs_the_history_and_a_method_with_a_loss(metamer_run, eig_run):
    met, state, _ = metamer_run
    with pytest.raises(ValueError, match="needs the history"):
        jp.synthesis_loss(met, state, None)
    with pytest.raises(ValueError, match="does not apply to an Eigendistortion.*eigendistortion_c"):
        jp.synthesis_loss(*eig_run)


def test_mad_loss_has_a_panel_per_metric_with_red_dots(mad_set):
    mads, states, history = mad_set
    axes = jp.synthesis_loss(mads, states, history, lane=3, iteration=2, plot_penalties=True)
    assert list(axes) == ["reference_metric_loss", "optimized_metric_loss", "penalties"]
    for name, ax in axes.items():
        y = ax.lines[0].get_ydata()
        np.testing.assert_array_equal(y[:-1], history.records[name][3])
        assert tuple(ax.collections[0].get_offsets()[0]) == (2, y[2])
    assert axes["optimized_metric_loss"].get_ylabel() == "Optimized metric loss"


def _scale_marks(ax):
    """(x of each stage-change line, [(x, text) of each stage label]) of a MetamerCTF loss axis."""
    lines = [line.get_xdata()[0] for line in ax.lines if line.get_gid() == "scale_change"]
    labels = [
        (t.get_position()[0], t.get_text()) for t in ax.texts if t.get_gid() == "scale_change"
    ]
    return lines, labels


def test_ctf_loss_marks_where_each_stage_started(ctf_run):
    met, state, history = ctf_run
    ax = jp.synthesis_loss(met, state, history)["loss"]
    lines, labels = _scale_marks(ax)
    # the iterations whose step optimised a new scale, from the history and from the state
    changes = np.flatnonzero(np.diff(history.stage)) + 1
    np.testing.assert_array_equal(lines, changes)
    assert lines == [5, 10, 15, 20]
    timing = met.scales_timing(state)
    assert labels == [(timing[sc][0], str(sc)) for sc in met.scales]
    assert [text for _, text in labels] == ["pixel_statistics", "residual_lowpass", "1", "0", "all"]
    # the loss curve is still the first line, over all 30 steps and the current image
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(31))


def test_ctf_marks_only_the_stages_within_the_history(ctf_run):
    met, state, history = ctf_run
    later = History(history.iterations[12:], {k: v[12:] for k, v in history.records.items()})
    lines, labels = _scale_marks(jp.synthesis_loss(met, state, later)["loss"])
    assert lines == [15, 20]
    assert labels == [(15, "0"), (20, "all")]


def test_ctf_status_loss_panel_has_the_stage_marks(ctf_run, tmp_path):
    met, state, history = ctf_run
    fig = jp.synthesis_status(met, state, history, included_plots=["synthesis_loss"])
    fig.savefig(tmp_path / "status.png", dpi=40)  # the labels' offset transform renders
    lines, labels = _scale_marks(fig.subfigs[0].axes[0])
    assert lines == [5, 10, 15, 20] and len(labels) == 5


def test_plain_metamer_loss_has_no_stage_marks(metamer_run):
    ax = jp.synthesis_loss(*metamer_run)["loss"]
    assert _scale_marks(ax) == ([], []) and len(ax.lines) == 1


# ------------------------------------------------------------------------------------------------
# histogram and representation error
# ------------------------------------------------------------------------------------------------


def test_histogram_overlays_the_metamer_and_the_target(metamer_run):
    met, state, history = metamer_run
    ax = jp.synthesis_histogram(met, state, history, iteration=4)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Metamer [iteration=4]", "Target image"]
    counts = [sum(p.get_height() for p in c) for c in ax.containers]
    assert counts == [256, 256]


def test_representation_error_is_model_output_minus_target(metamer_run):
    met, state, history = metamer_run
    axes = jp.metamer_representation_error(met, state, history, iteration=2)
    error = np.asarray(met.model(history.saved_images[1])) - np.asarray(met.target_representation)
    np.testing.assert_allclose(_image_data(axes[0]), error[0], atol=1e-6)


def test_representation_error_needs_a_metamer(mad_set):
    with pytest.raises(ValueError, match="needs a Metamer"):
        jp.metamer_representation_error(*mad_set, lane=0)


# ------------------------------------------------------------------------------------------------
# synthesis_status and synthesis_animate
# ------------------------------------------------------------------------------------------------


def test_metamer_status_has_image_loss_and_representation_error(metamer_run):
    met, state, history = metamer_run
    fig = jp.synthesis_status(met, state, history)
    assert len(fig.subfigs) == 3
    image_ax = fig.subfigs[0].axes[0]
    loss_ax = fig.subfigs[1].axes[0]
    assert image_ax.get_title() == "Metamer [iteration=6]"
    assert loss_ax.get_ylabel() == "Loss"
    (rep_ax,) = (ax for ax in fig.subfigs[2].axes if ax.axison)  # the one channel of the output
    assert rep_ax.get_title().startswith("Representation error")


def test_status_panels_all_show_the_same_stored_iteration(metamer_run):
    met, state, history = metamer_run
    fig = jp.synthesis_status(
        met, state, history, iteration=2, included_plots=["synthesis_loss", "synthesis_imshow"]
    )
    loss_ax, image_ax = (sf.axes[0] for sf in fig.subfigs)
    np.testing.assert_array_equal(_image_data(image_ax), history.saved_images[1, 0])
    assert loss_ax.collections[0].get_offsets()[0][0] == 2


def test_status_refuses_unknown_panels_and_width_ratios(metamer_run, eig_run):
    met, state, history = metamer_run
    with pytest.raises(ValueError, match=r"\['synthesis_imshow', 'synthesis_loss', 'metamer_repr"):
        jp.synthesis_status(met, state, history, included_plots=["synthesis_imshow", "loss"])
    with pytest.raises(ValueError, match="choose distinct names among"):
        jp.synthesis_status(*eig_run, included_plots=["synthesis_loss"])
    with pytest.raises(ValueError, match="not among the included plots"):
        jp.synthesis_status(met, state, history, width_ratios={"synthesis_histogram": 2})
    with pytest.raises(ValueError, match="needs the history"):
        jp.synthesis_status(met, state)


def test_portilla_simoncelli_status_saves_with_the_statistics_summary(ps_run, tmp_path):
    met, state, history = ps_run
    fig = jp.synthesis_status(met, state, history)  # what the CLI calls
    fig.savefig(tmp_path / "status.png", dpi=40)
    assert (tmp_path / "status.png").stat().st_size > 0
    image_sf, _, rep_sf = fig.subfigs
    assert image_sf.axes[0].get_title() == "Metamer [iteration=0]"
    titles = [ax.get_title() for ax in rep_sf.axes if ax.get_visible() and ax.axison]
    assert titles[:3] == ["pixels+var_highpass", "std+skew+kurtosis recon", "magnitude_std"]
    assert rep_sf.get_suptitle() == "Representation error"


def test_mad_status_titles_the_lane(mad_set):
    fig = jp.synthesis_status(*mad_set, lane=2)
    assert fig.subfigs[0].axes[0].get_title() == "MAD image[2] [iteration=4]"
    assert [ax.get_ylabel() for ax in fig.subfigs[1].axes] == [
        "Reference metric loss",
        "Optimized metric loss",
    ]


def test_animation_frame_k_shows_stored_image_k(metamer_run):
    met, state, history = metamer_run
    anim = jp.synthesis_animate(met, state, history)
    assert anim.frame_iterations == [0, 2, 4, 6]
    expected = [*history.saved_images[:, 0], np.asarray(state.image[0])]
    anim._init_draw()  # what saving or showing does first (draws frame 0)
    for k in (0, 2, 3, 1):
        anim._draw_frame(k)
        image_ax = anim.status_axes["synthesis_imshow"]
        np.testing.assert_array_equal(_image_data(image_ax), expected[k])
        assert image_ax.get_title() == f"Metamer [iteration={anim.frame_iterations[k]}]"
        dot = anim.status_axes["synthesis_loss"]["loss"].collections[0]
        assert dot.get_offsets()[0][0] == anim.frame_iterations[k]
        error = np.asarray(met.model(expected[k][None])) - np.asarray(met.target_representation)
        rep_ax = anim.status_axes["metamer_representation_error"][0]
        np.testing.assert_allclose(_image_data(rep_ax), error[0], atol=1e-6)


def test_animation_needs_stored_images(metamer_run, eig_run):
    met, state, history = metamer_run
    unstored = dataclasses.replace(history, saved_images=None, saved_iterations=None)
    with pytest.raises(ValueError, match="store_progress=True"):
        jp.synthesis_animate(met, state, unstored)
    with pytest.raises(ValueError, match="iterative image synthesis"):
        jp.synthesis_animate(*eig_run)


# ------------------------------------------------------------------------------------------------
# MAD competition figures
# ------------------------------------------------------------------------------------------------


def test_mad_imshow_all_lays_out_the_four_images_of_the_set(mad_set):
    mads, states, history = mad_set
    fig = jp.mad_imshow_all((mads, states, history), metric2_name="MAE")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "Reference image",
        "Initial (noisy) image",
        "Minimize mse",
        "Maximize mse",
        "Minimize MAE",
        "Maximize MAE",
    ]
    expected = [mads.image[0, 0], states.initial_image[0, 0]] + [
        states.image[i, 0] for i in range(4)
    ]
    for ax, image in zip(fig.axes, expected, strict=True):
        np.testing.assert_array_equal(_image_data(ax), np.asarray(image))


def test_mad_imshow_all_orders_separate_runs_by_their_roles(mad_set):
    mads, states, _ = mad_set
    runs = [(_lane(mads, i), _lane(states, i)) for i in (1, 3, 0, 2)]
    fig = jp.mad_imshow_all(runs)
    assert [ax.get_title() for ax in fig.axes][2:] == [
        "Minimize mse",
        "Maximize mse",
        "Minimize mean_abs_error",
        "Maximize mean_abs_error",
    ]
    for ax, lane in zip(fig.axes[2:], range(4), strict=True):
        np.testing.assert_array_equal(_image_data(ax), np.asarray(states.image[lane, 0]))


def test_mad_figures_refuse_an_inconsistent_set(mad_set):
    mads, states, _ = mad_set
    runs = [(_lane(mads, i), _lane(states, i)) for i in range(4)]
    other = eqx.tree_at(lambda m: m.image, runs[3][0], runs[3][0].image + 0.1)
    with pytest.raises(ValueError, match="same reference image"):
        jp.mad_imshow_all([*runs[:3], (other, runs[3][1])])
    with pytest.raises(ValueError, match="metric 1 is minimized twice"):
        jp.mad_imshow_all([runs[0], runs[0], runs[2], runs[3]])
    with pytest.raises(ValueError, match="needs the history"):
        jp.mad_loss_all((mads, states))


def test_mad_loss_all_draws_each_metric_for_the_four_runs(mad_set):
    mads, states, history = mad_set
    fig = jp.mad_loss_all((mads, states, history))
    metric2_ax, metric1_ax = fig.axes
    assert (metric2_ax.get_title(), metric1_ax.get_title()) == ("mean_abs_error", "mse")
    assert [line.get_linestyle() for line in metric1_ax.lines] == ["--", "-", "--", "-"]
    # metric 1 is optimized by lanes 0-1 and held by lanes 2-3
    for lane, line in enumerate(metric1_ax.lines):
        record = "optimized_metric_loss" if lane < 2 else "reference_metric_loss"
        np.testing.assert_array_equal(line.get_ydata()[:-1], history.records[record][lane])
    for lane, line in enumerate(metric2_ax.lines):
        record = "reference_metric_loss" if lane < 2 else "optimized_metric_loss"
        np.testing.assert_array_equal(line.get_ydata()[:-1], history.records[record][lane])
    legend = [t.get_text() for t in metric1_ax.get_legend().get_texts()]
    assert legend == [
        "Minimize mse",
        "Maximize mse",
        "Minimize mean_abs_error",
        "Maximize mean_abs_error",
    ]


# ------------------------------------------------------------------------------------------------
# eigendistortions
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eigenindex, row", [(None, 0), (0, 0), (-1, 1), (63, 1)])
def test_imshow_of_eigendistortion_adds_the_scaled_distortion(eig_run, eigenindex, row):
    eig, state, _ = eig_run
    ax = jp.synthesis_imshow(eig, state, eigenindex=eigenindex, distortion_scale=3.0)
    expected = np.asarray(state.image[0]) + 3.0 * np.asarray(state.eigendistortions[row, 0])
    np.testing.assert_allclose(_image_data(ax), expected, rtol=1e-6)
    assert ax.get_title() == f"Image + 3 * Eigendistortion[{[0, 63][row]}]"


def test_eigendistortion_imshow_all_shows_distortions_above_distorted_images(eig_run):
    eig, state, _ = eig_run
    fig = jp.eigendistortion_imshow_all(eig, state, distortion_scale=(2.0, 10.0))
    axes = fig.axes
    assert len(axes) == 6 and not axes[0].get_visible()
    dist, img = np.asarray(state.eigendistortions[:, 0]), np.asarray(state.image[0])
    np.testing.assert_array_equal(_image_data(axes[1]), dist[0])
    np.testing.assert_array_equal(_image_data(axes[2]), dist[1])
    np.testing.assert_array_equal(_image_data(axes[3]), img)
    np.testing.assert_allclose(_image_data(axes[4]), img + 2.0 * dist[0], rtol=1e-6)
    np.testing.assert_allclose(_image_data(axes[5]), img + 10.0 * dist[1], rtol=1e-6)
    lam = float(state.eigenvalues[1])
    assert axes[2].get_title() == f"Eigendistortion[63], λ={lam:.3g}"
    assert axes[5].get_title() == "Image + 10 * Eigendistortion[63]"
    assert fig.get_suptitle() == "Eigendistortions"


def test_eigendistortion_figures_refuse_bad_indices(eig_run):
    eig, state, history = eig_run
    with pytest.raises(ValueError, match=r"Eigendistortion 5 was not computed.*\[0, 63\]"):
        jp.eigendistortion_imshow_all(eig, state, eigenindex=[0, 5])
    with pytest.raises(ValueError, match="`distortion_scale` has 3 values"):
        jp.eigendistortion_imshow_all(eig, state, distortion_scale=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="no iterations"):
        jp.synthesis_imshow(eig, state, history, iteration=0)


def test_eigendistortion_status_shows_image_and_distortion_histogram(eig_run):
    fig = jp.synthesis_status(*eig_run)
    image_sf, hist_sf = fig.subfigs
    assert image_sf.axes[0].get_title() == "Image + 5 * Eigendistortion[0]"
    labels = [t.get_text() for t in hist_sf.axes[0].get_legend().get_texts()]
    assert labels == ["Eigendistortion[0]", "Eigendistortion[63]"]


@pytest.mark.parametrize("lane", [0, 1])
def test_convergence_draws_residual_and_eigenvalues_per_step(eig_batch, lane):
    eigs, states, history = eig_batch
    axes = jp.eigendistortion_convergence(eigs, states, history, lane=lane)
    res_ax, val_ax = axes["residual"], axes["eigenvalues"]
    n = int(states.iteration[lane])  # the steps this lane ran (the batch pads the shorter lane)
    assert int(states.iteration[0]) != int(states.iteration[1])
    steps = np.arange(1, n + 1)  # records describe the state after each step
    residual = history.losses[lane, :n]
    (res_line, stop_line) = res_ax.lines
    finite = np.isfinite(residual)
    assert not finite[0]  # no pair before the first step's basis is large enough
    np.testing.assert_array_equal(res_line.get_xdata(), steps[finite])
    np.testing.assert_array_equal(res_line.get_ydata(), residual[finite])
    assert res_ax.get_yscale() == "log"
    assert stop_line.get_ydata()[0] == pytest.approx(1e-3) and stop_line.get_color() == "r"
    assert residual[-1] <= 1e-3 < residual[-2]  # it stopped when the line was crossed
    top, bottom = val_ax.lines
    for line, record in ((top, "top_eigenvalue"), (bottom, "bottom_eigenvalue")):
        np.testing.assert_array_equal(line.get_xdata(), steps)
        np.testing.assert_array_equal(line.get_ydata(), history.records[record][lane, :n])
    # the last estimates are the state's eigenvalues
    assert top.get_ydata()[-1] == states.eigenvalues[lane, 0]
    assert bottom.get_ydata()[-1] == states.eigenvalues[lane, -1]
    assert val_ax.get_yscale() == "log"
    legend = [t.get_text() for t in val_ax.get_legend().get_texts()]
    assert legend == ["top eigenvalue λ[0]", "bottom eigenvalue λ[63]"]
    assert (res_ax.get_ylabel(), val_ax.get_xlabel()) == ("Relative residual", "Iteration")


def test_convergence_of_exact_has_no_stop_line(eig_run):
    eig, state, history = eig_run
    axes = jp.eigendistortion_convergence(eig, state, history)
    assert [line.get_label() for line in axes["residual"].lines] == ["largest relative residual"]
    (top, bottom) = axes["eigenvalues"].lines
    assert list(top.get_xdata()) == [1] and list(bottom.get_ydata()) == [1.0]  # identity: F = I


def test_convergence_into_given_axes(eig_run):
    fig, ax = plt.subplots()
    axes = jp.eigendistortion_convergence(*eig_run, ax=ax)
    assert len(fig.axes) == 2 and ax not in fig.axes  # the axis was split into two rows
    assert axes["residual"].get_title() == "Eigendistortion convergence"
    fig, pair = plt.subplots(1, 2)
    axes = jp.eigendistortion_convergence(*eig_run, ax=pair)
    assert (axes["residual"], axes["eigenvalues"]) == tuple(pair)
    with pytest.raises(ValueError, match="list of two Axes"):
        jp.eigendistortion_convergence(*eig_run, ax=[pair[0]])


def test_convergence_refuses_other_methods_and_needs_history_and_lane(
    eig_run, eig_batch, metamer_run
):
    with pytest.raises(TypeError, match="must be a jaxoptic.Eigendistortion.*synthesis_loss"):
        jp.eigendistortion_convergence(*metamer_run)
    eig, state, _ = eig_run
    with pytest.raises(ValueError, match="needs the history"):
        jp.eigendistortion_convergence(eig, state, None)
    with pytest.raises(ValueError, match="batch of 2 syntheses: pass lane=i"):
        jp.eigendistortion_convergence(*eig_batch)


def test_eigendistortion_status_can_show_convergence(eig_batch):
    eigs, states, history = eig_batch
    fig = jp.synthesis_status(
        eigs,
        states,
        history,
        lane=1,
        included_plots=["synthesis_imshow", "eigendistortion_convergence"],
    )
    image_sf, conv_sf = fig.subfigs
    assert image_sf.axes[0].get_title() == "Image + 5 * Eigendistortion[0]"
    res_ax, val_ax = (ax for ax in conv_sf.axes if ax.axison)
    assert res_ax.get_title() == "Eigendistortion convergence"
    n = int(states.iteration[1])
    np.testing.assert_array_equal(val_ax.lines[0].get_ydata(), history.top_eigenvalue[1, :n])
    with pytest.raises(ValueError, match="eigendistortion_convergence panel needs the history"):
        jp.synthesis_status(eigs, states, lane=1, included_plots=["eigendistortion_convergence"])


# ------------------------------------------------------------------------------------------------
# geodesic
# ------------------------------------------------------------------------------------------------


def test_deviation_from_line_plots_pixelfade_geodesic_and_video(geodesic_run):
    geo, state, _, video = geodesic_run
    ax = jp.plot_deviation_from_line(geo, state, natural_video=video)
    assert [line.get_label() for line in ax.lines] == ["pixelfade", "geodesic", "natural video"]
    assert [line.get_color() for line in ax.lines] == ["g", "r", "b"]
    deviation = jax.jit(geo.deviation_from_line)
    for line, seq in zip(ax.lines, [geo.pixelfade, state.image, video], strict=True):
        along, away = deviation(seq)
        np.testing.assert_allclose(line.get_xdata(), along, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(line.get_ydata(), away, rtol=1e-5, atol=1e-6)
    assert ax.get_xlabel() == "Distance along representation line"
    assert ax.get_ylabel() == "Distance from representation line"
    assert ax.get_title() == "Deviation from the straight line"
    with pytest.raises(ValueError, match="natural_video"):
        jp.plot_deviation_from_line(geo, state, natural_video=video[:, :, :8])


def test_geodesic_status_shows_frames_loss_and_deviation(geodesic_run):
    geo, state, history, _ = geodesic_run
    fig = jp.synthesis_status(geo, state, history, iteration=2)
    top, bottom = fig.subfigs
    frames = _image_data(top.axes[0])
    stored = history.saved_images[1]  # (T, C, H, W) at iteration 2
    assert frames.shape == (16, 4 * 16 + 3)
    for t in range(4):
        np.testing.assert_array_equal(frames[:, t * 17 : t * 17 + 16], stored[t, 0])
    loss_ax, dev_ax = (sf.axes[0] for sf in bottom.subfigs)
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata()[:-1], history.losses)
    assert loss_ax.collections[0].get_offsets()[0][0] == 2
    away = jax.jit(geo.deviation_from_line)(stored)[1]
    np.testing.assert_allclose(dev_ax.lines[1].get_ydata(), away, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# colour (RGB) images
# ------------------------------------------------------------------------------------------------


def _rendered_colour(ax, image: np.ndarray, i: int, j: int) -> np.ndarray:
    """The RGB (0-255) that the canvas shows in the middle of pixel (i, j) of ``image`` (C, H, W)
    drawn into ``ax`` (the figure is rendered with Agg)."""
    fig = ax.figure.figure  # the root figure of a subfigure
    fig.canvas.draw()
    canvas = np.asarray(fig.canvas.buffer_rgba())
    box = ax.get_window_extent()
    h, w = image.shape[-2:]
    # a little past the centre, so that float error cannot put it on a screen-pixel boundary
    x = box.x0 + (j + 0.6) * box.width / w
    y = box.y1 - (i + 0.6) * box.height / h  # display y counts from the bottom
    return canvas[int(canvas.shape[0] - y), int(x), :3].astype(int)


def _assert_shows_colours(ax, image):
    for i, j in [(0, 0), (5, 11), (15, 15)]:
        expected = np.round(255 * np.asarray(image)[:, i, j]).astype(int)
        np.testing.assert_allclose(_rendered_colour(ax, image, i, j), expected, atol=2)


def test_imshow_of_an_rgb_metamer_is_one_colour_image(rgb_metamer_run):
    met, state, history = rgb_metamer_run
    ax = jp.synthesis_imshow(met, state, history, zoom=4)
    np.testing.assert_array_equal(_image_data(ax), np.moveaxis(np.asarray(state.image), 0, -1))
    assert ax.get_title() == "Metamer [iteration=4]" and len(ax.figure.axes) == 1
    _assert_shows_colours(ax, state.image)
    stored = jp.synthesis_imshow(met, state, history, iteration=2)
    np.testing.assert_array_equal(_image_data(stored), np.moveaxis(history.saved_images[1], 0, -1))


def test_imshow_of_one_channel_of_an_rgb_metamer_is_gray(rgb_metamer_run):
    met, state, history = rgb_metamer_run
    ax = jp.synthesis_imshow(met, state, history, channel=1)
    np.testing.assert_array_equal(_image_data(ax), np.asarray(state.image[1]))
    assert ax.images[-1].get_cmap().name == "gray"


def test_rgb_metamer_status_shows_the_colour_image_and_each_channel_error(rgb_metamer_run):
    met, state, history = rgb_metamer_run
    fig = jp.synthesis_status(met, state, history, iteration=2)
    image_ax = fig.subfigs[0].axes[0]
    np.testing.assert_array_equal(
        _image_data(image_ax), np.moveaxis(history.saved_images[1], 0, -1)
    )
    _assert_shows_colours(image_ax, history.saved_images[1])
    assert fig.subfigs[1].axes[0].collections[0].get_offsets()[0][0] == 2
    rep_axes = [ax for ax in fig.subfigs[2].axes if ax.axison]
    assert [ax.get_title() for ax in rep_axes] == ["channel 0", "channel 1", "channel 2"]


def test_rgb_metamer_histogram_pools_the_three_channels(rgb_metamer_run):
    ax = jp.synthesis_histogram(*rgb_metamer_run)
    assert [sum(p.get_height() for p in c) for c in ax.containers] == [3 * 256, 3 * 256]


def test_rgb_metamer_animation_frames_are_colour_images(rgb_metamer_run):
    met, state, history = rgb_metamer_run
    anim = jp.synthesis_animate(
        met, state, history, included_plots=["synthesis_imshow", "synthesis_loss"]
    )
    anim._init_draw()
    for k, frame in enumerate([*history.saved_images, np.asarray(state.image)]):
        anim._draw_frame(k)
        ax = anim.status_axes["synthesis_imshow"]
        np.testing.assert_array_equal(_image_data(ax), np.moveaxis(frame, 0, -1))
