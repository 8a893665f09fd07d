"""Exceptions raised by the ratings engine.

Every message is one human-readable line, fit to print as a CLI error.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceError",
    "DisconnectedGraphError",
    "RatingsError",
    "RatingsInputError",
    "UnboundedRatingsError",
]


class RatingsError(Exception):
    """Base class of every error the ratings engine raises on purpose."""


class RatingsInputError(RatingsError):
    """The battles cannot be rated as given (bad file, bad values, no data)."""


class DisconnectedGraphError(RatingsInputError):
    """The comparison graph falls apart, so ratings across parts are undefined."""

    def __init__(self, components: list[list[str]]) -> None:
        self.components = components
        parts = "; ".join("{" + ", ".join(c) + "}" for c in components)
        super().__init__(
            f"comparison graph is disconnected into {len(components)} components: {parts}"
        )


class UnboundedRatingsError(RatingsInputError):
    """Some models never lost (or never won) against the rest: the MLE does not exist."""

    def __init__(self, undefeated: list[str], rest: list[str]) -> None:
        self.undefeated = undefeated
        self.rest = rest
        super().__init__(
            "no finite Bradley-Terry ratings: {"
            + ", ".join(undefeated)
            + "} never lost or tied against {"
            + ", ".join(rest)
            + "}"
        )


class ConvergenceError(RatingsError):
    """The optimiser stopped before reaching its stated gradient tolerance."""
