"""Sample images (CC0, credited in ``CREDITS.md``), image loading and synthetic images.

Every bundled loader returns one float32 image ``(1, 256, 256)`` with values in [0, 1].
"""

from ._images import brick, camera, grass, gravel, load_images, save_image
from ._synthetic import disk, polar_angle, polar_radius

__all__ = [
    "brick",
    "camera",
    "disk",
    "grass",
    "gravel",
    "load_images",
    "polar_angle",
    "polar_radius",
    "save_image",
]
