"""Multi-scale image pyramids: :class:`SteerablePyramid` and :class:`LaplacianPyramid`."""
