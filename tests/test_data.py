"""Bundled images, image loading and synthetic images."""

import imageio.v3 as iio
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference

import jaxoptic as jo

REF = load_reference("data")


@pytest.mark.parametrize("loader", [jo.data.camera, jo.data.brick, jo.data.grass, jo.data.gravel])
def test_bundled_images_are_float32_single_channel_in_unit_range(loader):
    img = loader()
    assert img.shape == (1, 256, 256)
    assert img.dtype == jnp.float32
    assert 0.0 <= float(img.min()) < float(img.max()) <= 1.0


def test_bundled_images_are_distinct():
    imgs = [jo.data.camera(), jo.data.brick(), jo.data.grass(), jo.data.gravel()]
    for i in range(len(imgs)):
        for j in range(i + 1, len(imgs)):
            assert not np.allclose(imgs[i], imgs[j])


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    paths = {}
    for name in ("gray8", "rgb8", "rgba8", "gray16"):
        paths[name] = d / f"{name}.png"
        iio.imwrite(paths[name], REF[f"raw/{name}"])
    return paths


@pytest.mark.parametrize("name", ["gray8", "rgb8", "rgba8", "gray16"])
@pytest.mark.parametrize("as_gray", [True, False])
def test_load_images_matches_plenoptic(image_files, name, as_gray):
    ours = jo.data.load_images(image_files[name], as_gray=as_gray)
    ref = REF[f"load_images/{name}/{'gray' if as_gray else 'color'}"]
    if name == "rgba8" and not as_gray:
        pytest.skip(
            "documented difference: plenoptic keeps alpha as a 4th channel; see the next test"
        )
    assert ours.dtype == jnp.float32
    # the reference is float32 too, so compare at float32 resolution
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=0, atol=1e-6)


def test_load_images_composites_alpha_over_white_in_colour_mode(image_files):
    rgba = REF["raw/rgba8"] / 255.0
    expected = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    ours = jo.data.load_images(image_files["rgba8"], as_gray=False)
    assert ours.shape == (1, 3, 12, 16)
    np.testing.assert_allclose(ours[0], np.moveaxis(expected, -1, 0), atol=1e-6)


def test_load_images_16bit_uses_full_range(tmp_path):
    path = tmp_path / "ramp16.png"
    iio.imwrite(path, np.array([[0, 32768, 65535]], dtype=np.uint16))
    np.testing.assert_allclose(
        jo.data.load_images(path)[0, 0, 0], [0.0, 32768 / 65535, 1.0], rtol=1e-6
    )


@pytest.mark.parametrize("ext", ["png", "jpg", "pgm", "tiff"])
def test_load_images_reads_common_formats(tmp_path, ext):
    arr = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
    path = tmp_path / f"ramp.{ext}"
    iio.imwrite(path, arr)
    img = jo.data.load_images(path)
    assert img.shape == (1, 1, 16, 16)
    atol = 0.05 if ext == "jpg" else 1e-6  # JPEG is lossy
    np.testing.assert_allclose(img[0, 0], arr / 255, atol=atol)


def test_load_images_stacks_a_list_and_a_directory(tmp_path):
    for i in range(3):
        iio.imwrite(tmp_path / f"im{i}.png", np.full((8, 10), 50 * i, dtype=np.uint8))
    from_list = jo.data.load_images([tmp_path / f"im{i}.png" for i in range(3)])
    from_dir = jo.data.load_images(tmp_path)
    assert from_list.shape == (3, 1, 8, 10)
    np.testing.assert_array_equal(from_list, from_dir)
    np.testing.assert_allclose(from_dir[:, 0, 0, 0], [0, 50 / 255, 100 / 255], rtol=1e-6)


def test_load_images_directory_skips_non_images_with_warning(tmp_path):
    iio.imwrite(tmp_path / "a.png", np.zeros((4, 4), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="notes.txt"):
        imgs = jo.data.load_images(tmp_path)
    assert imgs.shape == (1, 1, 4, 4)


def test_load_images_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="nope.png"):
        jo.data.load_images([missing])


def test_load_images_different_sizes_lists_the_sizes(tmp_path):
    iio.imwrite(tmp_path / "a.png", np.zeros((4, 4), dtype=np.uint8))
    iio.imwrite(tmp_path / "b.png", np.zeros((6, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"a.png: 4x4.*b.png: 6x5"):
        jo.data.load_images([tmp_path / "a.png", tmp_path / "b.png"])


def test_load_images_non_image_file_names_it(tmp_path):
    bad = tmp_path / "fake.png"
    bad.write_text("this is text")
    with pytest.raises(ValueError, match="fake.png"):
        jo.data.load_images(bad)


def test_save_image_round_trips(tmp_path):
    img = jo.data.camera()
    path = jo.data.save_image(tmp_path / "sub" / "camera.png", img)
    np.testing.assert_allclose(jo.data.load_images(path)[0], img, atol=0.5 / 255 + 1e-7)
    rgb = jnp.stack([img[0], 1 - img[0], img[0] * 0.5])
    back = jo.data.load_images(jo.data.save_image(tmp_path / "rgb.png", rgb), as_gray=False)[0]
    np.testing.assert_allclose(back, rgb, atol=0.5 / 255 + 1e-7)


def test_save_image_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        jo.data.save_image(tmp_path / "x.png", jnp.full((1, 4, 4), jnp.nan))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        jo.data.save_image(tmp_path / "x.png", jnp.zeros((2, 4, 4)))


@pytest.mark.parametrize(
    "i, size, kw",
    [
        (0, 16, {}),
        (1, (12, 20), {"exponent": 2.0}),
        (2, (9, 7), {"exponent": -1.0}),
        (3, 10, {"origin": (3, 4)}),
    ],
)
def test_polar_radius_matches_plenoptic(i, size, kw):
    ours = np.array(jo.data.polar_radius(size, dtype=jnp.float64, **kw))
    ref = REF[f"polar_radius/{i}"].copy()
    if kw.get("exponent", 1) <= 0:
        # the reference leaves the origin pixel (0 ** negative) uninitialised; ours sets it to 0
        centre = ref.shape[0] // 2, ref.shape[1] // 2
        assert ours[centre] == 0
        ours[centre] = ref[centre] = 0
    assert_parity(ours, ref, f"polar_radius {size} {kw}")


@pytest.mark.parametrize(
    "i, size, kw",
    [
        (0, 16, {}),
        (1, (12, 20), {"phase": 0.3}),
        (2, (9, 7), {"direction": "counter-clockwise"}),
        (3, 10, {"origin": 3}),
    ],
)
def test_polar_angle_matches_plenoptic(i, size, kw):
    assert_parity(
        jo.data.polar_angle(size, dtype=jnp.float64, **kw),
        REF[f"polar_angle/{i}"],
        f"polar_angle {kw}",
    )


@pytest.mark.parametrize(
    "i, size, kw", [(0, 16, {}), (1, (12, 20), {}), (2, 21, {"outer_radius": 8, "inner_radius": 2})]
)
def test_disk_matches_plenoptic(i, size, kw):
    assert_parity(
        jo.data.disk(size, dtype=jnp.float64, **kw), REF[f"disk/{i}"], f"disk {size} {kw}"
    )


def test_synthetic_images_bad_arguments():
    with pytest.raises(ValueError, match="direction"):
        jo.data.polar_angle(8, direction="sideways")
    with pytest.raises(ValueError, match="inner_radius"):
        jo.data.disk(8, outer_radius=2, inner_radius=3)
    with pytest.raises(ValueError, match="size"):
        jo.data.polar_radius((8, 8, 8))
