"""Input checks shared by the metrics (two single images of the same shape and dtype)."""

from __future__ import annotations

from .._validation import check_image, check_same_shape


def check_pair(img1, img2) -> None:
    """Check that ``img1`` and ``img2`` are float images ``(C, H, W)`` of the same shape and dtype.

    Raises
    ------
    TypeError
        If either image is not a real floating array, or if their dtypes differ.
    ValueError
        If either image is not 3-D, or if their shapes differ.
    """
    check_image(img1, "img1")
    check_image(img2, "img2")
    check_same_shape(img1, img2, ("img1", "img2"))
