"""Checks for a learner's own backprop, written by hand in numpy with a dict of parameters:
`check_function` for any cost, `check_backprop` for the standard fully connected network."""

from framework.learner.backprop import BackpropReport, Finding, check_backprop
from framework.learner.function import FunctionReport, check_function
from framework.gradcheck.mistakes import CATALOGUE, Mistake

__all__ = ["CATALOGUE", "BackpropReport", "Finding", "FunctionReport", "Mistake", "check_backprop", "check_function"]
