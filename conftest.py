"""Root pytest configuration: doctests run over the package (``--doctest-modules``), except the
``python -m jaxoptic`` entry point (importing it runs the command line) and the reference
generators in ``tests/reference`` (they need plenoptic)."""

collect_ignore = ["jaxoptic/__main__.py", "tests/reference"]
