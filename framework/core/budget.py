"""The allocation budget: while `load_model` rebuilds an architecture, layers may create no more
parameter entries than the file holds, so that a file declaring a huge layer is refused before
anything is allocated."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from framework.core.errors import FormatError


_budget: ContextVar[list[int] | None] = ContextVar("framework_allocation_budget", default=None)


@contextmanager
def allocation_budget(entries: int) -> Iterator[None]:
    """Within this block, layers may create at most `entries` parameter entries in all: `load_model`
    sets it to what the file holds, so that an architecture that declares a huge layer is refused
    before anything is allocated."""
    token = _budget.set([entries])
    try:
        yield
    finally:
        _budget.reset(token)


def reserve(entries: int, owner: str) -> None:
    """Count `entries` against the budget, if one is set; layers call it before allocating weights."""
    budget = _budget.get()
    if budget is None:
        return
    if entries > budget[0]:
        raise FormatError(
            f"{owner} would create {entries:,} parameter entries, far more than the file holds: "
            "the architecture does not match the weights"
        )
    budget[0] -= entries
