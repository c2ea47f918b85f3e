"""Models of visual processing, as :class:`equinox.Module` s on one image ``(channels, height, width)``."""

from ._frontend import LinearNonlinear, LuminanceContrastGainControl, LuminanceGainControl, OnOff
from ._naive import CenterSurround, Gaussian, Identity, Linear
from ._portilla_simoncelli import PortillaSimoncelli
from ._validate import validate_model
