"""Hypothesis runs the same examples on every run (no deadline: a gradient check takes milliseconds
or tens of them, and timing is not what these tests are about)."""

from hypothesis import settings

settings.register_profile("framework", deadline=None, derandomize=True, database=None, print_blob=True)
settings.load_profile("framework")
