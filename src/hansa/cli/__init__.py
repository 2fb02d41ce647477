"""The ``hansa`` command line."""
