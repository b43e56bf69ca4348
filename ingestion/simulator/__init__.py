"""Enterprise-feed simulator: a realistic region of key energy-using enterprises in feed contract v1,
clean series first and faults on top, with the injected faults written as ground truth."""

from .core import simulate
from .serve import serve

__all__ = ["serve", "simulate"]
