"""Synthesis methods and the driver that runs them."""

from ._ctf import MetamerCTF, MetamerCTFState
from ._driver import NonFiniteLossError, synthesize
from ._eigendistortion import Eigendistortion, EigendistortionState
from ._geodesic import Geodesic, GeodesicState
from ._history import History
from ._mad_competition import MADCompetition, MADCompetitionState
from ._metamer import Metamer, MetamerState
from ._status import Status
from ._straightness import (
    deviation_from_line,
    make_straight_line,
    sample_brownian_bridge,
    translation_sequence,
)
