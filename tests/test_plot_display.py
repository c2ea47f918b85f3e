"""Display half of jaxoptic.plot: show_image, imshow, animshow, pyrshow, stem plots, representations,
histograms. Each test checks what is drawn (axes, titles, image data, colour limits, stem heights,
bar counts), not only that drawing succeeds."""

import itertools

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import animation

import jaxoptic as jo
from jaxoptic.plot import (
    animshow,
    histogram,
    imshow,
    plot_representation,
    pyrshow,
    resolve_vrange,
    save_animation,
    show_image,
    stem_plot,
)
from jaxoptic.plot._portilla_simoncelli import ps_summary

RNG = np.random.default_rng(0)

# animations inspected frame by frame here are never rendered to a file
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image_data(ax):
    return np.asarray(ax.images[0].get_array())


# ------------------------------------------------------------------------------------------------
# show_image / resolve_vrange
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 7), (1, 5, 7)])
def test_show_image_draws_the_values_without_interpolation_or_ticks(shape):
    image = RNG.normal(size=shape)
    _fig, ax = plt.subplots()
    artist = show_image(ax, jnp.asarray(image), title="noise")
    np.testing.assert_array_equal(np.asarray(artist.get_array()), image.reshape(5, 7))
    assert artist.get_clim() == (image.min(), image.max())
    assert artist.get_interpolation() == "nearest"
    assert artist.get_cmap().name == "gray"
    assert ax.get_title() == "noise"
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []


def test_show_image_zero_centred_range_uses_diverging_colormap():
    image = np.array([[-1.0, 3.0]])
    _fig, ax = plt.subplots()
    artist = show_image(ax, image, vrange="indep0")
    assert artist.get_clim() == (-3.0, 3.0)
    assert artist.get_cmap().name == "RdBu_r"


def test_show_image_explicit_range_and_cmap():
    _fig, ax = plt.subplots()
    artist = show_image(ax, np.zeros((3, 3)), vrange=(-2, 5), cmap="viridis")
    assert artist.get_clim() == (-2.0, 5.0)
    assert artist.get_cmap().name == "viridis"


def test_show_image_three_channels_are_rgb_by_default():
    rgb = RNG.random((3, 4, 6))
    _fig, ax = plt.subplots()
    artist = show_image(ax, rgb)
    np.testing.assert_allclose(np.asarray(artist.get_array()), np.moveaxis(rgb, 0, -1))


def test_show_image_clips_rgb_outside_unit_range_with_warning():
    rgb = np.full((3, 2, 2), 2.0)
    _fig, ax = plt.subplots()
    with pytest.warns(UserWarning, match="outside \\[0, 1\\]"):
        artist = show_image(ax, rgb)
    assert np.asarray(artist.get_array()).max() == 1.0


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "match"),
    [
        (np.zeros((2, 4, 4)), {}, ValueError, "imshow"),
        (np.zeros((3, 4, 4)), {"as_rgb": False}, ValueError, "imshow"),
        (np.zeros((2, 4, 4)), {"as_rgb": True}, ValueError, "3 \\(RGB\\) or 4"),
        (np.zeros((1, 1, 4, 4)), {}, ValueError, "\\(channels, height, width\\)"),
        (np.zeros((4, 4), complex), {}, TypeError, "plot_complex"),
        (np.zeros((4, 4)), {"vrange": "indep7"}, ValueError, "vrange"),
        (np.zeros((4, 4)), {"vrange": (1, 0)}, ValueError, "vmin <= vmax"),
    ],
)
def test_show_image_bad_input(image, kwargs, error, match):
    _fig, ax = plt.subplots()
    with pytest.raises(error, match=match):
        show_image(ax, image, **kwargs)


def _rule(values, level):
    v = np.asarray(values, dtype=float).ravel()
    if level == 0:
        m = np.abs(v).max()
        return (-m, m)
    if level == 1:
        return (v.min(), v.max())
    if level == 2:
        return (v.mean() - 2 * v.std(), v.mean() + 2 * v.std())
    p10, p90 = np.percentile(v, [10, 90])
    return (p10 - (p90 - p10) / 8, p90 + (p90 - p10) / 8)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_resolve_vrange_indep_is_per_image_and_auto_is_pooled(level):
    a, b = RNG.normal(size=(4, 4)), 3 * RNG.normal(size=(6,)) + 1
    np.testing.assert_allclose(
        resolve_vrange([a, b], f"indep{level}"), [_rule(a, level), _rule(b, level)]
    )
    pooled = _rule(np.concatenate([a.ravel(), b]), level)
    np.testing.assert_allclose(resolve_vrange([a, b], f"auto{level}"), [pooled, pooled])


def test_resolve_vrange_ignores_nan_and_accepts_pairs():
    a = np.array([np.nan, 1.0, 2.0])
    assert resolve_vrange([a], "indep1") == [(1.0, 2.0)]
    assert resolve_vrange([a, a], (0, 1)) == [(0.0, 1.0), (0.0, 1.0)]
    assert resolve_vrange([a, a], [(0, 1), (2, 3)]) == [(0.0, 1.0), (2.0, 3.0)]


@pytest.mark.parametrize(
    ("vrange", "match"),
    [("auto9", "auto0"), ([(0, 1)] * 3, "one pair per image"), ("x", "vrange"), (5, "vrange")],
)
def test_resolve_vrange_bad_values(vrange, match):
    with pytest.raises(ValueError, match=match):
        resolve_vrange([np.zeros(2), np.ones(2)], vrange)


# ------------------------------------------------------------------------------------------------
# imshow
# ------------------------------------------------------------------------------------------------


def test_imshow_batch_draws_every_image_and_channel_as_a_panel():
    batch = RNG.normal(size=(2, 3, 5, 6))
    fig = imshow(batch, title="x")
    assert len(fig.axes) == 6
    titles = [a.get_title() for a in fig.axes]
    assert titles == [f"x [{n}, c={c}]" for n in range(2) for c in range(3)]
    for ax, (n, c) in zip(fig.axes, [(n, c) for n in range(2) for c in range(3)], strict=True):
        np.testing.assert_array_equal(_image_data(ax), batch[n, c])
        assert ax.images[0].get_clim() == (batch[n, c].min(), batch[n, c].max())


def test_imshow_single_image_and_2d_array():
    image = RNG.random((1, 8, 8))
    fig = imshow(jnp.asarray(image), title="one")
    assert [a.get_title() for a in fig.axes] == ["one"]
    np.testing.assert_allclose(_image_data(fig.axes[0]), image[0], rtol=1e-6)
    fig = imshow(image[0])
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == ""


def test_imshow_auto_range_is_shared_by_all_panels():
    images = [np.zeros((4, 4)), np.full((1, 8, 8), 5.0), -np.ones((4, 4))]
    fig = imshow(images, vrange="auto1")
    assert [a.images[0].get_clim() for a in fig.axes] == [(-1.0, 5.0)] * 3


def test_imshow_list_of_different_sizes_and_title_list():
    images = [RNG.random((4, 4)), RNG.random((1, 8, 8))]
    fig = imshow(images, title=["small", "big"])
    assert [a.get_title() for a in fig.axes] == ["small", "big"]
    np.testing.assert_array_equal(_image_data(fig.axes[0]), images[0])
    np.testing.assert_array_equal(_image_data(fig.axes[1]), images[1][0])
    # both panels are drawn at the same size on screen
    w0, w1 = (a.get_window_extent().width for a in fig.axes)
    assert w0 == pytest.approx(w1)


@pytest.mark.parametrize("zoom", [1, 3, 0.5])
def test_imshow_zoom_sets_screen_pixels_per_image_pixel(zoom):
    fig = imshow(np.zeros((1, 16, 24)), zoom=zoom)
    box = fig.axes[0].get_window_extent()
    assert box.width == pytest.approx(24 * zoom)
    assert box.height == pytest.approx(16 * zoom)


def test_imshow_col_wrap_makes_rows():
    fig = imshow(np.zeros((5, 1, 4, 4)), col_wrap=2)
    lefts = sorted({round(a.get_position().x0, 6) for a in fig.axes})
    bottoms = sorted({round(a.get_position().y0, 6) for a in fig.axes})
    assert len(lefts) == 2 and len(bottoms) == 3


@pytest.mark.parametrize(
    ("batch", "as_rgb"),
    [(RNG.random((3, 3, 8, 8)), True), (RNG.random((3, 1, 8, 8)) - 0.123456, False)],
    ids=["rgb", "gray with long ranges"],
)
def test_imshow_leaves_room_for_the_labels_of_small_panels(batch, as_rgb):
    fig = imshow(batch, as_rgb=as_rgb, zoom=1)
    fig.canvas.draw()
    width = fig.get_size_inches()[0] * fig.dpi
    boxes = [ax.xaxis.label.get_window_extent() for ax in fig.axes]
    assert len(boxes) == 3 and boxes[0].x0 >= 0 and boxes[-1].x1 <= width
    for left, right in itertools.pairwise(boxes):
        assert left.x1 < right.x0  # neighbouring labels do not overlap


def test_imshow_rgb_batch():
    batch = RNG.random((2, 3, 4, 4))
    fig = imshow(batch, as_rgb=True)
    assert len(fig.axes) == 2
    np.testing.assert_allclose(_image_data(fig.axes[1]), np.moveaxis(batch[1], 0, -1))


@pytest.mark.parametrize(
    ("mode", "parts", "names"),
    [
        ("rectangular", (np.real, np.imag), ["real", "imag"]),
        ("polar", (np.abs, np.angle), ["amplitude", "phase"]),
        ("logpolar", (lambda z: np.log1p(np.abs(z)), np.angle), ["log(1+amplitude)", "phase"]),
    ],
)
def test_imshow_complex_images_become_two_panels(mode, parts, names):
    z = RNG.normal(size=(4, 5)) + 1j * RNG.normal(size=(4, 5))
    fig = imshow(z, plot_complex=mode)
    assert [a.get_title() for a in fig.axes] == names
    for ax, part in zip(fig.axes, parts, strict=True):
        np.testing.assert_allclose(_image_data(ax), part(z))


def test_imshow_into_given_axis():
    fig, ax = plt.subplots()
    out = imshow(np.ones((1, 4, 4)), ax=ax, title="here")
    assert out is fig and ax.get_title() == "here" and len(ax.images) == 1


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "match"),
    [
        (np.zeros((1, 1, 1, 4, 4)), {}, ValueError, "\\(batch, channels, height, width\\)"),
        (np.zeros(4), {}, ValueError, "\\(height, width\\)"),
        ([], {}, ValueError, "empty"),
        (np.zeros((2, 4, 4)), {"title": ["a"]}, ValueError, "2 panels"),
        (np.zeros((2, 4, 4)), {"title": 3}, TypeError, "title"),
        (np.zeros((4, 4)), {"vrange": "indep5"}, ValueError, "vrange"),
        (np.zeros((4, 4)), {"plot_complex": "cartesian"}, ValueError, "plot_complex"),
        (np.zeros((4, 4)), {"zoom": 1.5}, ValueError, "integer"),
        (np.zeros((4, 4)), {"zoom": 0.3}, ValueError, "1/d"),
        (np.zeros((4, 4)), {"zoom": -1}, ValueError, "positive"),
        (np.zeros((4, 4)), {"col_wrap": 0}, ValueError, "col_wrap"),
        (np.zeros((2, 4, 4)), {"as_rgb": True}, ValueError, "3 \\(RGB\\) or 4"),
        (np.array([["a"]]), {}, TypeError, "numeric"),
    ],
)
def test_imshow_bad_input(images, kwargs, error, match):
    with pytest.raises(error, match=match):
        imshow(images, **kwargs)


def test_imshow_several_panels_into_one_axis_is_refused():
    _fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="`ax` was given"):
        imshow(np.zeros((2, 4, 4)), ax=ax)


# ------------------------------------------------------------------------------------------------
# animshow / save_animation
# ------------------------------------------------------------------------------------------------


def test_animshow_frames_show_the_video():
    video = RNG.random((5, 1, 6, 6))
    anim = animshow(video, framerate=4)
    assert len(list(anim.new_frame_seq())) == 5
    image = anim._fig.axes[0].images[0]
    assert image.get_clim() == (video.min(), video.max())  # auto1 over all frames
    for k in (0, 3, 4):
        anim._func(k)
        np.testing.assert_array_equal(np.asarray(image.get_array()), video[k, 0])


def test_animshow_several_videos_side_by_side_with_indep_ranges():
    a, b = RNG.random((3, 4, 4)), 10 * RNG.random((3, 2, 4, 4))
    anim = animshow([a, b], vrange="indep1", title="v")
    axes = anim._fig.axes
    assert [ax.get_title() for ax in axes] == ["v [0]", "v [1, c=0]", "v [1, c=1]"]
    assert axes[0].images[0].get_clim() == (a.min(), a.max())
    assert axes[2].images[0].get_clim() == (b[:, 1].min(), b[:, 1].max())
    anim._func(2)
    np.testing.assert_array_equal(_image_data(axes[2]), b[2, 1])


def test_animshow_rgb_video():
    video = RNG.random((2, 3, 4, 4))
    anim = animshow(video, as_rgb=True)
    anim._func(1)
    np.testing.assert_allclose(_image_data(anim._fig.axes[0]), np.moveaxis(video[1], 0, -1))


@pytest.mark.parametrize(
    ("video", "kwargs", "match"),
    [
        ([np.zeros((2, 4, 4)), np.zeros((3, 4, 4))], {}, "same number of frames"),
        (np.zeros((4, 4)), {}, "\\(time, channels, height, width\\)"),
        (np.zeros((2, 4, 4)), {"framerate": 0}, "framerate"),
    ],
)
def test_animshow_bad_input(video, kwargs, match):
    with pytest.raises(ValueError, match=match):
        animshow(video, **kwargs)


def test_save_animation_writes_a_gif(tmp_path):
    anim = animshow(RNG.random((3, 4, 4)))
    path = save_animation(anim, tmp_path / "movie.gif")
    assert path == tmp_path / "movie.gif" and path.stat().st_size > 0


def test_save_animation_falls_back_to_gif_without_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    anim = animshow(RNG.random((2, 4, 4)))
    with pytest.warns(UserWarning, match="ffmpeg"):
        path = save_animation(anim, tmp_path / "movie.mp4")
    assert path == tmp_path / "movie.gif" and path.stat().st_size > 0


def test_save_animation_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match=".mp4 or .gif"):
        save_animation(animshow(np.zeros((2, 4, 4))), tmp_path / "movie.avi")


# ------------------------------------------------------------------------------------------------
# colour (RGB) images and videos
# ------------------------------------------------------------------------------------------------


def _colour_image(rows=slice(100, 116), cols=slice(100, 116)):
    """A (3, H, W) colour image: three bundled gray images as red, green and blue."""
    stacked = np.concatenate([jo.data.camera(), jo.data.brick(), jo.data.grass()])
    return np.asarray(stacked[:, rows, cols], np.float64)


def _rendered_colour(ax, image_hw: tuple[int, int], i: int, j: int) -> np.ndarray:
    """The RGB (0-255) drawn at the middle of pixel (i, j) of an (H, W) image filling ``ax``."""
    fig = ax.figure
    fig.canvas.draw()
    canvas = np.asarray(fig.canvas.buffer_rgba())
    box = ax.get_window_extent()
    h, w = image_hw
    # a little past the centre, so that float error cannot put it on a screen-pixel boundary
    x = box.x0 + (j + 0.6) * box.width / w
    y = box.y1 - (i + 0.6) * box.height / h  # display y counts from the bottom
    return canvas[int(canvas.shape[0] - y), int(x), :3].astype(int)


def _assert_drawn_in_colour(ax, image):
    """The canvas shows ``image`` (3, H, W) in colour at a few pixels (to 8-bit precision)."""
    h, w = image.shape[-2:]
    for i, j in [(0, 0), (h // 3, w - 5), (h - 1, w - 1)]:
        expected = np.round(255 * image[:, i, j]).astype(int)
        np.testing.assert_allclose(_rendered_colour(ax, (h, w), i, j), expected, atol=2)


# a title wider than the image by an odd number of pixels would centre the panel between two
# screen pixels (cutting its first column) if positions were not rounded
@pytest.mark.parametrize("title", ["colour", "Metamer [iteration=4]"])
def test_imshow_of_an_rgb_image_with_as_rgb_is_one_colour_panel(title):
    rgb = _colour_image()
    fig = imshow(rgb, as_rgb=True, title=title, zoom=4)
    (ax,) = fig.axes
    np.testing.assert_array_equal(_image_data(ax), np.moveaxis(rgb, 0, -1))
    assert ax.get_title() == title and ax.get_xlabel() == "16x16, range [0, 1]"
    assert ax.get_window_extent().x0 == pytest.approx(round(ax.get_window_extent().x0))
    _assert_drawn_in_colour(ax, rgb)


def test_imshow_of_an_rgb_image_by_default_shows_each_channel_in_gray():
    # plenoptic's default as_rgb=False: one grayscale panel per channel
    rgb = _colour_image()
    fig = imshow(rgb, title="colour")
    assert [ax.get_title() for ax in fig.axes] == [f"colour [c={c}]" for c in range(3)]
    for c, ax in enumerate(fig.axes):
        np.testing.assert_array_equal(_image_data(ax), rgb[c])
        assert ax.images[0].get_cmap().name == "gray"


def test_imshow_of_a_batch_of_rgb_images_is_one_colour_panel_per_image():
    batch = np.stack([_colour_image(), _colour_image()[::-1], _colour_image()[:, ::-1]])
    fig = imshow(batch, as_rgb=True, title="b", zoom=4)
    assert [ax.get_title() for ax in fig.axes] == ["b [0]", "b [1]", "b [2]"]
    for ax, image in zip(fig.axes, batch, strict=True):
        np.testing.assert_array_equal(_image_data(ax), np.moveaxis(image, 0, -1))
        _assert_drawn_in_colour(ax, image)


def test_imshow_of_a_list_of_rgb_images_of_different_sizes():
    small, big = _colour_image(slice(0, 8), slice(0, 8)), _colour_image()
    fig = imshow([small, big], as_rgb=True, zoom=4)
    assert len(fig.axes) == 2
    assert [ax.get_window_extent().width for ax in fig.axes] == [64, 64]  # drawn at the same size
    _assert_drawn_in_colour(fig.axes[0], small)  # each of its pixels covers 8 x 8 screen pixels
    _assert_drawn_in_colour(fig.axes[1], big)


def test_animshow_of_rgb_videos_shows_each_frame_in_colour():
    video = np.stack([_colour_image(), _colour_image()[::-1], _colour_image()[[1, 2, 0]]])
    anim = animshow([video, video[::-1]], as_rgb=True, zoom=4)
    axes = anim._fig.axes
    assert len(axes) == 2 and len(list(anim.new_frame_seq())) == 3
    for k in (0, 2, 1):
        anim._func(k)
        np.testing.assert_array_equal(_image_data(axes[0]), np.moveaxis(video[k], 0, -1))
        np.testing.assert_array_equal(_image_data(axes[1]), np.moveaxis(video[2 - k], 0, -1))
        _assert_drawn_in_colour(axes[0], video[k])


def test_rgb_animation_saves_as_a_colour_gif(tmp_path):
    from PIL import Image

    video = np.stack([_colour_image(), _colour_image()[[1, 2, 0]]])
    path = save_animation(animshow(video, as_rgb=True, zoom=4), tmp_path / "colour.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 2
        frame = np.asarray(gif.convert("RGB"), dtype=int)
    # the colours of the first frame are there (the GIF palette rounds them a little)
    colours = frame.reshape(-1, 3)
    for i, j in [(2, 3), (10, 12)]:
        expected = np.round(255 * video[0][:, i, j])
        assert np.abs(colours - expected).max(axis=1).min() <= 12


def test_imshow_clips_rgb_outside_unit_range_with_a_warning():
    rgb = _colour_image()
    rgb[0, 0, 0], rgb[1, 0, 0] = 1.5, -0.5
    with pytest.warns(UserWarning, match="outside \\[0, 1\\]; clipping"):
        fig = imshow(rgb, as_rgb=True)
    np.testing.assert_array_equal(_image_data(fig.axes[0])[0, 0, :2], [1.0, 0.0])


# ------------------------------------------------------------------------------------------------
# pyrshow
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def steerable_coeffs():
    pyr = jo.pyramids.SteerablePyramid((32, 32), height=2, order=2)
    image = jnp.asarray(RNG.random((2, 32, 32)))
    return pyr(image)


def test_pyrshow_one_panel_per_band_and_residual(steerable_coeffs):
    fig = pyrshow(steerable_coeffs, channel=1)
    titles = [a.get_title() for a in fig.axes]
    expected = [f"scale {s}, ori {o}" for s in range(2) for o in range(3)]
    assert titles == ["residual highpass", *expected, "residual lowpass"]
    np.testing.assert_allclose(
        _image_data(fig.axes[0]), np.asarray(steerable_coeffs["residual_highpass"][1])
    )
    np.testing.assert_allclose(_image_data(fig.axes[5]), np.asarray(steerable_coeffs[1][1, 1]))
    # bands keep their relative size: scale 1 is drawn at half the size of scale 0
    assert fig.axes[4].get_window_extent().width == pytest.approx(16)
    assert fig.axes[1].get_window_extent().width == pytest.approx(32)


def test_pyrshow_without_residuals(steerable_coeffs):
    fig = pyrshow(steerable_coeffs, show_residuals=False, zoom=2, title="pyr")
    assert len(fig.axes) == 6
    assert fig.axes[0].get_window_extent().width == pytest.approx(64)
    assert fig._suptitle.get_text() == "pyr"


def test_pyrshow_complex_bands_show_two_parts():
    pyr = jo.pyramids.SteerablePyramid((16, 16), height=1, order=1, is_complex=True)
    coeffs = pyr(jnp.asarray(RNG.random((1, 16, 16))))
    fig = pyrshow(coeffs, plot_complex="polar")
    titles = [a.get_title() for a in fig.axes]
    assert titles[1:5] == [
        "scale 0, ori 0 amplitude",
        "scale 0, ori 0 phase",
        "scale 0, ori 1 amplitude",
        "scale 0, ori 1 phase",
    ]
    np.testing.assert_allclose(_image_data(fig.axes[3]), np.abs(np.asarray(coeffs[0][0, 1])))


def test_pyrshow_laplacian_list_and_tuple_keys():
    levels = jo.pyramids.LaplacianPyramid(3)(jnp.asarray(RNG.random((1, 16, 16))))
    fig = pyrshow(levels)
    assert [a.get_title() for a in fig.axes] == ["scale 0", "scale 1", "residual lowpass"]
    coeffs = {(0, 0): np.ones((1, 4, 4)), (0, 1): np.zeros((1, 4, 4))}
    assert len(pyrshow(coeffs).axes) == 2


@pytest.mark.parametrize(
    ("coeffs", "kwargs", "error", "match"),
    [
        ({"bandpass": np.zeros((1, 4, 4))}, {}, ValueError, "Unknown key"),
        ({"residual_lowpass": np.zeros((4, 4))}, {}, ValueError, "\\(channels, height, width\\)"),
        ({"residual_lowpass": np.zeros((1, 4, 4))}, {"channel": 2}, ValueError, "channel"),
        (np.zeros((1, 4, 4)), {}, TypeError, "dict"),
    ],
)
def test_pyrshow_bad_input(coeffs, kwargs, error, match):
    with pytest.raises(error, match=match):
        pyrshow(coeffs, **kwargs)


# ------------------------------------------------------------------------------------------------
# stem_plot / histogram
# ------------------------------------------------------------------------------------------------


def test_stem_plot_heights_equal_data_and_ylim_rule():
    data = np.array([0.5, -2.0, 1.0])
    ax = stem_plot(jnp.asarray(data), title="s")
    np.testing.assert_allclose(ax.containers[-1].markerline.get_ydata(), data)
    assert ax.get_title() == "s" and not ax.xaxis.get_visible()
    lo, hi = ax.get_ylim()
    assert lo == -hi and hi >= 2.0
    ax = stem_plot(np.array([1.0, 3.0]))
    lo, hi = ax.get_ylim()
    assert -0.2 < lo < 0 and hi >= 3.0
    assert stem_plot(data, ylim=(-5, 5)).get_ylim() == (-5, 5)


def test_stem_plot_refuses_complex_data():
    with pytest.raises(TypeError, match="must be real for a stem plot"):
        stem_plot(np.array([1 + 1j, 2.0]))


def test_histogram_bars_count_every_value():
    x = RNG.normal(size=1000)
    y = np.append(RNG.random(300), np.nan)
    ax = histogram([x, y], labels=["x", "y"], title="h")
    counts = [sum(p.get_height() for p in c) for c in ax.containers]
    assert counts == [1000, 300]
    q25, q75 = np.percentile(x, [25, 75])
    fd = int(np.ceil((x.max() - x.min()) / (2 * (q75 - q25) / 1000 ** (1 / 3))))
    assert len(ax.containers[0]) == min(fd, 50)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["x", "y"]
    assert ax.get_xlim() == (min(x.min(), np.nanmin(y)), max(x.max(), np.nanmax(y)))
    assert ax.get_title() == "h" and ax.get_xlabel() == "Values"


def test_histogram_bins_option_and_bad_labels():
    ax = histogram(jnp.arange(10.0), bins=5)
    assert len(ax.containers[0]) == 5
    with pytest.raises(ValueError, match="labels"):
        histogram([np.ones(3), np.ones(3)], labels=["one"])


# ------------------------------------------------------------------------------------------------
# plot_representation
# ------------------------------------------------------------------------------------------------


def test_plot_representation_of_channels_by_features():
    data = RNG.normal(size=(3, 7))
    _fig, axes = plot_representation(data)
    assert [a.get_title() for a in axes] == [f"Representation_{i:02d}" for i in range(3)]
    for ax, row in zip(axes, data, strict=True):
        np.testing.assert_allclose(ax.containers[-1].markerline.get_ydata(), row)
    m = np.abs(data).max()
    for ax in axes:  # one shared, symmetric range
        lo, hi = ax.get_ylim()
        assert lo == -hi and hi >= m


def test_plot_representation_of_image_like_data():
    data = RNG.normal(size=(2, 4, 4))
    _fig, axes = plot_representation(data, title="maps")
    assert [a.get_title() for a in axes] == ["maps_00", "maps_01"]
    np.testing.assert_array_equal(_image_data(axes[1]), data[1])
    assert axes[1].images[0].get_clim()[0] == -axes[1].images[0].get_clim()[1]


def test_plot_representation_shows_one_signed_maps_on_their_own_range():
    """Signed maps (errors) are centred on 0; a non-negative map (a model's response) spans its
    own range, in gray, instead of filling half a diverging colormap."""
    data = np.abs(RNG.normal(size=(2, 4, 4))) + 1.0
    _fig, axes = plot_representation(data)
    image = axes[0].images[0]
    assert image.get_clim() == (data[0].min(), data[0].max())
    assert image.get_cmap().name == "gray"


def test_plot_representation_of_dict_grid_four_wide():
    data = {f"k{i}": RNG.normal(size=3) for i in range(6)}
    fig, axes = plot_representation(data, title="all")
    assert [a.get_title() for a in axes] == list(data)
    assert len({round(a.get_position().y0, 3) for a in axes}) == 2  # 4 + 2
    assert fig._suptitle.get_text() == "all"


def test_plot_representation_of_dict_with_channels():
    maps, stats = RNG.normal(size=(2, 4, 4)), RNG.normal(size=(2, 5))
    _fig, axes = plot_representation({"maps": maps, "stats": stats})
    assert [a.get_title() for a in axes] == ["maps (channel mean)", "stats"]
    np.testing.assert_allclose(_image_data(axes[0]), maps.mean(0))
    drawn = [c.markerline.get_ydata() for c in axes[1].containers]
    np.testing.assert_allclose(drawn, stats)  # one stem set per channel, overlaid


def test_plot_representation_into_given_axis():
    fig, ax = plt.subplots()
    out, axes = plot_representation(np.ones(4), ax=ax)
    assert out is fig and len(axes) == 1 and not ax.axison
    with pytest.raises(ValueError, match="figsize"):
        plot_representation(np.ones(4), ax=ax, figsize=(3, 3))


def test_plot_representation_uses_the_model_method():
    class Model:
        def plot_representation(self, data, ax=None, figsize=None, ylim=None, title=None):
            return "called", [data, title]

    assert plot_representation(5, model=Model(), title="t") == ("called", [5, "t"])


def test_plot_representation_bad_shape():
    with pytest.raises(ValueError, match="3-D"):
        plot_representation(np.zeros((1, 2, 3, 4)))


@pytest.fixture(scope="module")
def ps_setup():
    model = jo.models.PortillaSimoncelli((64, 64), n_scales=2, n_orientations=3)
    image = jnp.asarray(RNG.random((2, 64, 64)))
    return model, np.asarray(model(image))


PS_TITLES = [
    "pixels+var_highpass",
    "std+skew+kurtosis recon",
    "magnitude_std",
    "auto_correlation_reconstructed",
    "auto_correlation_magnitude",
    "cross_orientation_correlation_magnitude",
    "cross_scale_correlation_magnitude",
    "cross_scale_correlation_real",
]


def test_portilla_simoncelli_summary_panels(ps_setup):
    model, rep = ps_setup
    fig, axes = plot_representation(rep, model=model, title="PS")
    assert [a.get_title() for a in axes] == PS_TITLES
    assert fig._suptitle.get_text() == "PS"
    s, o = 2, 3
    counts = [7, 3 * (s + 1), o * s, s + 1, o * s, s, s - 1, s - 1]
    heights = [ax.containers[-1].markerline.get_ydata() for ax in axes]
    assert [len(h) for h in heights] == counts
    assert all(np.isfinite(h).all() for h in heights)
    # channel-averaged values
    groups = {k: np.asarray(v).mean(0) for k, v in model.to_dict(rep).items()}
    np.testing.assert_allclose(
        heights[0], np.r_[groups["pixel_statistics"], groups["var_highpass_residual"]]
    )
    np.testing.assert_allclose(heights[2], groups["magnitude_std"].ravel())
    acm = groups["auto_correlation_magnitude"]
    np.testing.assert_allclose(heights[4], np.sqrt(np.nansum(acm**2, axis=(0, 1))).ravel())


def test_portilla_simoncelli_dict_input_gives_the_same_summary(ps_setup):
    model, rep = ps_setup
    from_rep = ps_summary(model, rep)
    from_dict = ps_summary(model, model.to_dict(rep))
    for k in from_rep:
        np.testing.assert_allclose(from_dict[k], from_rep[k])


def test_portilla_simoncelli_one_scale_has_no_cross_scale_panels():
    model = jo.models.PortillaSimoncelli(
        (16, 16), n_scales=1, n_orientations=2, spatial_corr_width=3
    )
    _fig, axes = plot_representation(model(jnp.asarray(RNG.random((1, 16, 16)))), model=model)
    assert [a.get_title() for a in axes] == PS_TITLES[:6]


def test_portilla_simoncelli_bad_data(ps_setup):
    model, rep = ps_setup
    with pytest.raises(ValueError, match=f"\\(\\.\\.\\., {model.n_stats}\\)"):
        plot_representation(rep[:, :10], model=model)
    groups = dict(model.to_dict(rep))
    groups.pop("magnitude_std")
    with pytest.raises(KeyError, match="magnitude_std"):
        plot_representation(groups, model=model)
