"""Synthesis methods and the driver that runs them."""

from ._ctf import MetamerCTF, MetamerCTFState
from ._driver import NonFiniteLossError, synthesize
from ._history import History
from ._metamer import Metamer, MetamerState
from ._status import Status
