"""Figures of images, pyramids, representations and synthesis runs (matplotlib over arrays).

Every function takes arrays (JAX or NumPy) or the ``(method, state, history)`` of a synthesis run
and returns matplotlib objects. The synthesis figures evaluate the model where they need a
representation (through the same compiled ``model(image)`` as the synthesis, so once per model and
shape). ``import jaxoptic`` does not import matplotlib: this subpackage is loaded on first use of
``jaxoptic.plot``.
"""

from ._display import (
    animshow,
    histogram,
    imshow,
    plot_representation,
    pyrshow,
    save_animation,
    stem_plot,
)
from ._image import resolve_vrange, show_image
from ._synthesis import (
    eigendistortion_convergence,
    eigendistortion_imshow_all,
    mad_imshow_all,
    mad_loss_all,
    metamer_representation_error,
    plot_deviation_from_line,
    synthesis_animate,
    synthesis_histogram,
    synthesis_imshow,
    synthesis_loss,
    synthesis_status,
)
