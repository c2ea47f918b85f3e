"""``python -m jaxoptic`` runs the command line (same as the ``jaxoptic`` command)."""

import sys

from .cli import main

sys.exit(main())
