"""What the benchmarks share: percentiles, results files, databases seeded with models, the
arena under uvicorn in a thread.

The arena is imported inside the functions that need it, so that the ratings benchmark's
child processes (which import ``benchmarks.bench_ratings``) stay free of it.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arena.models.service import OperatorModel
    from arena.settings import Settings
    from serving.threaded import ThreadedServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def rel(path: Path) -> str:
    """A path as recorded in results: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 100]; raises on no values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def describe(values: list[float], *, scale: float = 1.0, digits: int = 3) -> dict[str, float]:
    """Count, p50/p90/p99, max and mean of ``values`` times ``scale`` (1000: seconds to ms)."""
    if not values:
        return {"n": 0}
    scaled = [v * scale for v in values]
    out: dict[str, float] = {"n": len(scaled)}
    for q in (50, 90, 99):
        out[f"p{q}"] = round(percentile(scaled, q), digits)
    out["max"] = round(max(scaled), digits)
    out["mean"] = round(statistics.fmean(scaled), digits)
    return out


def _plain(value: Any) -> Any:
    # NumPy scalars and arrays; anything else (paths, datetimes) as text
    return value.tolist() if hasattr(value, "tolist") else str(value)


def write_results(path: Path, results: dict[str, Any]) -> str:
    """Write ``results`` as indented JSON to ``path``; returns the text."""
    text = json.dumps(results, indent=2, default=_plain)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return text


def migrated(url: str) -> str:
    """Bring the database at ``url`` to the newest schema."""
    from arena.db import make_engine
    from arena.migrate import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def register_models(url: str, models: Iterable[OperatorModel]) -> list[int]:
    """Operator models, approved and marked healthy (no probe needed); their ids."""
    from arena.db import make_engine, make_sessionmaker, session_scope
    from arena.models.service import add_operator_model

    engine = make_engine(url)
    try:
        ids = []
        with session_scope(make_sessionmaker(engine)) as session:
            for spec in models:
                m = add_operator_model(session, spec)
                m.healthy = True
                session.flush()
                ids.append(m.id)
        return ids
    finally:
        engine.dispose()


def arena_server(settings: Settings) -> ThreadedServer:
    """``create_app(settings)`` under uvicorn in a thread (lifespan on), not yet started."""
    from arena.app import create_app
    from serving.threaded import ThreadedServer

    return ThreadedServer(
        create_app(settings), lifespan="on", startup_timeout=60, shutdown_timeout=15
    )
