"""Image-quality metrics on two single images ``(channels, height, width)`` -> per-channel ``(C,)``."""
