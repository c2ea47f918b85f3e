"""Root pytest configuration.

Doctests run over the package (``--doctest-modules``) in JAX's default 32-bit mode, as a user would
run the examples, even though ``tests/conftest.py`` enables float64 for the test session. Not
collected: the ``python -m jaxoptic`` entry point (importing it runs the command line) and the
reference generators in ``tests/reference`` (they need plenoptic).
"""

import jax
import pytest

collect_ignore = ["jaxoptic/__main__.py", "tests/reference", "tests/fixtures"]


@pytest.fixture(autouse=True)
def _doctests_in_default_precision(request):
    if isinstance(request.node, pytest.DoctestItem):
        with jax.enable_x64(False):
            yield
    else:
        yield
