"""Implementation of the ``jaxoptic`` command line (the entry point is :func:`jaxoptic.cli.main`)."""
