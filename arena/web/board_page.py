"""What the leaderboard and model pages show: the chosen board, its pickers and marks.

The page reads the same boards as `GET /api/v1/leaderboard` (arena.leaderboard.views), so
a figure on the page and in the API are one number.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from arena.leaderboard.boards import VIEWS
from arena.leaderboard.views import BoardQuery, categories, current_board, model_history
from arena.models.tables import LICENSES
from arena.web import charts, stats

VIEW_LABELS = {"default": "Default", "style": "Style control"}
FEATURE_LABELS = {
    "sum_assistant_tokens": "Answer length (tokens)",
    "header_count": "Markdown headers",
    "list_count": "List items",
    "bold_count": "Bold spans",
}


def scale_label(anchor: list[Any] | None) -> str:
    """The rating scale as the snapshot was fitted (ARENA_RATING_ANCHOR, when its model has
    votes on this board)."""
    if anchor:
        name, value = anchor
        return f"anchored: {name} = {float(value):g}"
    return "mean 1000"


def parameters_label(count: int | None) -> str:
    if not count:
        return ""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= size:
            return f"{count / size:.3g}{unit}"
    return str(count)


@dataclass(frozen=True)
class PageQuery:
    board: BoardQuery
    filters: stats.Filters


def leaderboard_context(session: Session, query: PageQuery) -> dict[str, Any]:
    notice = ""
    if query.board.view == "style" and query.board.category:
        # Style control is fitted on every counted vote, not per category.
        query = replace(query, board=replace(query.board, view="default"))
        notice = "Style control is fitted on all votes only: this is the category's default board."
    board = current_board(session, query.board)
    models = board["models"]
    shown = [m for m in models if query.filters.keep(m)]
    cats = categories(session, query.board.category_min_votes)
    coefficients = [
        {"feature": name, "label": FEATURE_LABELS.get(name, name), **c}
        for name, c in board.get("style_coefficients", {}).items()
    ]
    return {
        "board": board,
        "rows": shown,
        "bars": charts.interval_bars(models),
        "bar_width": charts.BAR_WIDTH,
        "organizations": sorted({m["organization"] for m in models if m["organization"]}),
        "licenses": LICENSES,
        "filters": query.filters,
        "query": query.board,
        "views": [(v, VIEW_LABELS[v]) for v in VIEWS],
        "categories": cats,
        "scale": scale_label(board.get("anchor")),
        "coefficients": coefficients,
        "dropped": board.get("dropped_features", {}),
        "parameters_label": parameters_label,
        "notice": notice,
    }


def model_context(session: Session, name: str, query: BoardQuery) -> dict[str, Any] | None:
    model = stats.public_model(session, name)
    if model is None:
        return None
    # The model's own page shows it whatever its status.
    query = replace(query, category=None, include_retired=True)
    history = model_history(session, name, query.view)["history"]
    board = current_board(session, query)
    current = next((m for m in board["models"] if m["model"] == name), None)
    return {
        "model": model,
        "current": current,
        "board": board,
        "history": history,
        "chart": charts.history_chart(history),
        "records": stats.head_to_head(session, model),
        "counts": stats.counts(session, model),
        "query": query,
        "views": [(v, VIEW_LABELS[v]) for v in VIEWS],
        "scale": scale_label(board.get("anchor")),
        "parameters_label": parameters_label,
    }
