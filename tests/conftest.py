"""Hypothesis runs the same examples on every run (no deadline: a gradient check takes milliseconds
or tens of them, and timing is not what these tests are about)."""

import pytest
from hypothesis import settings

settings.register_profile("framework", deadline=None, derandomize=True, database=None, print_blob=True)
settings.load_profile("framework")


def pytest_configure(config: pytest.Config) -> None:
    # When a property fails, Hypothesis's pytest plugin imports libcst to suggest an @example patch,
    # and libcst's import warns through mypy_extensions; under filterwarnings=error that warning
    # would turn the falsifying example into an INTERNALERROR that stops the whole run.
    config.addinivalue_line("filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
