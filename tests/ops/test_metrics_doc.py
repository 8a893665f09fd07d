"""docs/operations.md lists every metric the app exposes, with its type and labels."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from arena.metrics import make_metrics

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = {"counter": "_total"}  # what the exposition adds to a counter family's name


def documented() -> dict[str, tuple[str, list[str]]]:
    """``{scraped name: (type, labels)}`` from the Metrics table."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            name, kind, labels, meaning = cells
            assert meaning, f"{name} has no meaning"
            rows[name.strip("`")] = (kind, re.findall(r"`([^`]+)`", labels))
    return rows


def collectors() -> list[MetricWrapperBase]:
    """Every collector the app registers (the fields of AppMetrics and its ServingMetrics)."""
    found: list[MetricWrapperBase] = []
    pending: list[Any] = [make_metrics()]
    while pending:
        obj = pending.pop()
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, MetricWrapperBase):
                found.append(value)
            elif dataclasses.is_dataclass(value):
                pending.append(value)
    return found


def test_the_table_is_there() -> None:
    assert len(documented()) >= 10
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/operations.md" in readme


def test_every_registered_metric_is_documented_with_its_type() -> None:
    metrics = make_metrics()
    registered = {
        family.name + SUFFIX.get(family.type, ""): family.type
        for family in metrics.registry.collect()
    }
    doc = {name: kind for name, (kind, _) in documented().items()}
    assert doc == registered


def test_documented_labels_are_the_metrics_labels() -> None:
    doc = documented()
    seen = set()
    for collector in collectors():
        (family,) = collector.describe()
        name = family.name + SUFFIX.get(family.type, "")
        kind, labels = doc[name]
        # .labels() refuses any other label set, so this fails when the doc is wrong.
        child = collector.labels(**{label: "x" for label in labels}) if labels else collector
        if kind == "gauge":
            child.set(1)  # type: ignore[attr-defined]
        elif kind == "histogram":
            child.observe(0.5)  # type: ignore[attr-defined]
        else:
            child.inc()  # type: ignore[attr-defined]
        (collected,) = collector.collect()
        sample_labels = {k for s in collected.samples for k in s.labels if k != "le"}
        assert sample_labels == set(labels), name
        seen.add(name)
    assert seen == set(doc)
