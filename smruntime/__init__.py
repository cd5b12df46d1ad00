"""A small client for Amazon SageMaker Runtime, built for response streaming."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
