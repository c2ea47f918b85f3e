"""Multi-scale image pyramids: :class:`SteerablePyramid` and :class:`LaplacianPyramid`."""

from ._laplacian import LaplacianPyramid
from ._steerable import SteerablePyramid
