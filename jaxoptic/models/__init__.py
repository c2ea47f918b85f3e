"""Models of visual processing, as :class:`equinox.Module` s on one image ``(channels, height, width)``."""
