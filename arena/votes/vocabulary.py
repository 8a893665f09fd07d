"""The words battles and votes share: the two sides, the winner values, their LMSYS names."""

from __future__ import annotations

from typing import Literal

Side = Literal["A", "B"]
Winner = Literal["A", "B", "tie", "bothbad"]

SIDES: tuple[Side, Side] = ("A", "B")
WINNERS: tuple[Winner, ...] = ("A", "B", "tie", "bothbad")

# LMSYS spelling of outcomes, from side A's point of view (public arena dumps use these).
LMSYS_WINNER: dict[str, str] = {
    "A": "model_a",
    "B": "model_b",
    "tie": "tie",
    "bothbad": "tie (bothbad)",
}
