"""Bundled sample images and image-file loading."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from jaxtyping import Array, Float

from .._arrays import constant

__all__ = ["brick", "camera", "grass", "gravel", "load_images", "save_image"]

PathLike = str | os.PathLike

# ITU-R 709 luma weights, as used by scikit-image's rgb2gray (and so by plenoptic's load_images).
_RGB_TO_GRAY = np.array([0.2125, 0.7154, 0.0721])


def _bundled(name: str) -> Float[Array, "1 256 256"]:
    with resources.as_file(resources.files("jaxoptic.data") / "images" / f"{name}.png") as path:
        return constant(_to_channels(_read(path), True).astype(np.float32))


def camera() -> Float[Array, "1 256 256"]:
    """The "camera" photograph (a man with a camera), 256x256 grayscale.

    CC0, by Lav Varshney, from scikit-image's sample data (see ``jaxoptic/data/CREDITS.md``).

    Returns
    -------
    image
        float32 array of shape ``(1, 256, 256)`` with values in [0, 1].

    Examples
    --------
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()
    >>> img.shape, img.dtype
    ((1, 256, 256), dtype('float32'))
    """
    return _bundled("camera")


def brick() -> Float[Array, "1 256 256"]:
    """A brick-wall texture, 256x256 grayscale (CC0, from scikit-image's sample data).

    Returns
    -------
    image
        float32 array of shape ``(1, 256, 256)`` with values in [0, 1].

    Examples
    --------
    >>> import jaxoptic as jo
    >>> jo.data.brick().shape
    (1, 256, 256)
    """
    return _bundled("brick")


def grass() -> Float[Array, "1 256 256"]:
    """A grass texture, 256x256 grayscale (CC0, from scikit-image's sample data).

    Returns
    -------
    image
        float32 array of shape ``(1, 256, 256)`` with values in [0, 1].

    Examples
    --------
    >>> import jaxoptic as jo
    >>> jo.data.grass().shape
    (1, 256, 256)
    """
    return _bundled("grass")


def gravel() -> Float[Array, "1 256 256"]:
    """A gravel texture, 256x256 grayscale (CC0, from scikit-image's sample data).

    Returns
    -------
    image
        float32 array of shape ``(1, 256, 256)`` with values in [0, 1].

    Examples
    --------
    >>> import jaxoptic as jo
    >>> jo.data.gravel().shape
    (1, 256, 256)
    """
    return _bundled("gravel")


def _read(path: Path) -> np.ndarray:
    """Read one image file as float64 in [0, 1], shaped (H, W) or (H, W, channels)."""
    try:
        with open(path, "rb") as f:
            im = iio.imread(f)
    except Exception as err:  # imageio raises many types for unreadable files
        raise ValueError(
            f"Could not read {str(path)!r} as an image ({type(err).__name__}: {err})."
        ) from err
    im = np.asarray(im)
    if np.issubdtype(im.dtype, np.bool_):
        im = im.astype(np.float64)
    elif np.issubdtype(im.dtype, np.integer):
        im = im / np.iinfo(im.dtype).max
    elif np.issubdtype(im.dtype, np.floating):
        im = im.astype(np.float64)
    else:
        raise ValueError(f"{str(path)!r} has an unsupported pixel type {im.dtype}.")
    if im.ndim == 3 and im.shape[-1] == 1:
        im = im[..., 0]
    if im.ndim not in (2, 3) or (im.ndim == 3 and im.shape[-1] not in (2, 3, 4)):
        raise ValueError(
            f"{str(path)!r} has array shape {im.shape}; expected a single 2-D grayscale or RGB(A) image "
            "(multi-frame files are not supported)."
        )
    return im


def _to_channels(im: np.ndarray, as_gray: bool) -> np.ndarray:
    """(H, W) or (H, W, c) in [0, 1] -> (C, H, W), gray (C=1) or RGB (C=3)."""
    if im.ndim == 3:
        if im.shape[-1] in (2, 4):  # gray+alpha or RGBA: composite over a white background
            alpha = im[..., -1:]
            colour = im[..., :-1]
            im = colour * alpha + (1.0 - alpha)
        if im.shape[-1] == 1:
            im = im[..., 0]
    if as_gray:
        if im.ndim == 3:
            im = im @ _RGB_TO_GRAY
        return im[None]
    if im.ndim == 2:
        return np.repeat(im[None], 3, axis=0)
    return np.moveaxis(im, -1, 0)


def _expand_paths(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        p = Path(paths)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            if not files:
                raise ValueError(f"The directory {str(p)!r} contains no files.")
            return files
        return [p]
    if isinstance(paths, Sequence) and not isinstance(paths, (bytes, bytearray)):
        if len(paths) == 0:
            raise ValueError("`paths` is empty; give at least one image file.")
        return [Path(p) for p in paths]
    raise TypeError(
        f"`paths` must be a path, a directory or a list of paths, got {type(paths).__name__}."
    )


def load_images(
    paths: PathLike | Sequence[PathLike], as_gray: bool = True
) -> Float[Array, "N C H W"]:
    """Load image files as a float32 batch ``(N, C, H, W)`` with values in [0, 1].

    Integer pixels are divided by the largest value of their type (255 for 8-bit, 65535 for 16-bit
    files); PNG, JPEG, PGM/PPM, TIFF and the other formats imageio reads are accepted. Colour images
    become grayscale with scikit-image's ``rgb2gray`` weights (0.2125, 0.7154, 0.0721) when
    ``as_gray`` is true (the default), giving ``C = 1``; otherwise ``C = 3`` (grayscale files are
    repeated to three channels). An alpha channel is composited over a white background, in both
    modes (plenoptic does this for grayscale but keeps alpha as a fourth channel when
    ``as_gray=False``; jaxoptic always returns 1 or 3 channels).

    Parameters
    ----------
    paths
        One file, a list of files, or a directory (every file in it, sorted by name; files that are
        not images are skipped with a warning).
    as_gray
        Convert to one grayscale channel (default) or keep/make three RGB channels.

    Returns
    -------
    images
        float32 array ``(N, C, H, W)``. Models take one image: use ``images[i]`` or ``jax.vmap``.

    Raises
    ------
    FileNotFoundError
        If a path does not exist (the message names it).
    ValueError
        If a named file is not an image (the message names it), or the images have different sizes
        (the message lists them).

    Examples
    --------
    >>> import jaxoptic as jo
    >>> from importlib import resources
    >>> path = resources.files("jaxoptic.data") / "images" / "brick.png"
    >>> imgs = jo.data.load_images([path, path])
    >>> imgs.shape, imgs.dtype
    ((2, 1, 256, 256), dtype('float32'))
    """
    from_directory = isinstance(paths, (str, os.PathLike)) and Path(paths).is_dir()
    files = _expand_paths(paths)
    images, used = [], []
    for path in files:
        if not path.exists():
            raise FileNotFoundError(f"Image file not found: {str(path)!r}")
        if path.is_dir():
            raise ValueError(
                f"{str(path)!r} is a directory; give image files or a single directory."
            )
        try:
            im = _read(path)
        except ValueError as err:
            if from_directory:
                warnings.warn(f"Skipping {str(path)!r}: {err}", UserWarning, stacklevel=2)
                continue
            raise
        images.append(_to_channels(im, as_gray))
        used.append(path)
    if not images:
        raise ValueError(f"None of the files in {str(paths)!r} could be read as images.")
    shapes = {im.shape[1:] for im in images}
    if len(shapes) > 1:
        listing = ", ".join(
            f"{p.name}: {im.shape[1]}x{im.shape[2]}" for p, im in zip(used, images, strict=True)
        )
        raise ValueError(
            f"All images must have the same height and width to be stacked, got {listing}. "
            "Load them separately or crop/resize them to one size."
        )
    return constant(np.stack(images).astype(np.float32))


def save_image(path: PathLike, image, bit_depth: int = 8) -> Path:
    """Write one image ``(C, H, W)`` (or ``(H, W)``) with values in [0, 1] to an image file.

    Values are clipped to [0, 1] and scaled to ``bit_depth`` bits (8 or 16). One channel is written
    as grayscale, three as RGB. The format follows the file extension (e.g. ``.png``).

    Parameters
    ----------
    path
        Output file; parent directories are created.
    image
        Array ``(C, H, W)`` with ``C`` in {1, 3}, or ``(H, W)``.
    bit_depth
        8 or 16 (16-bit needs a format that supports it, such as PNG or TIFF, and one channel).

    Returns
    -------
    path
        The written path.

    Examples
    --------
    >>> import tempfile, os
    >>> import jaxoptic as jo
    >>> out = jo.data.save_image(os.path.join(tempfile.mkdtemp(), "camera.png"), jo.data.camera())
    >>> jo.data.load_images(out).shape
    (1, 1, 256, 256)
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        if arr.shape[0] not in (1, 3):
            raise ValueError(
                f"`image` must have 1 or 3 channels to be saved, got shape {arr.shape}."
            )
        arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
    elif arr.ndim != 2:
        raise ValueError(f"`image` must be (C, H, W) or (H, W), got shape {arr.shape}.")
    if bit_depth not in (8, 16):
        raise ValueError(f"`bit_depth` must be 8 or 16, got {bit_depth}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError("`image` contains NaN or Inf values; nothing was written.")
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    out = np.round(np.clip(arr, 0.0, 1.0) * np.iinfo(dtype).max).astype(dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, out)
    return path
