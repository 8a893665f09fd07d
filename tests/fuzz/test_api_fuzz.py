"""schemathesis over the OpenAPI schema: no server error, every error in the envelope, every
response as the schema documents it (a bounded, seeded run; `benchmarks/fuzz_api.py` runs
longer)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fuzz.harness import FuzzArena, fuzz, fuzz_arena, is_envelope

try:
    import schemathesis  # noqa: F401
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("schemathesis is not installed (a test dependency)", allow_module_level=True)

# Examples per operation and generation mode (valid, then invalid data): about a minute.
MAX_EXAMPLES = 30
SEED = 20250601


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzArena]:
    with fuzz_arena(tmp_path_factory.mktemp("fuzz")) as running:
        yield running


def test_the_envelope_check_tells_an_envelope() -> None:
    assert is_envelope({"error": {"message": "m", "type": "t", "code": "c"}})
    assert not is_envelope({"detail": [{"loc": ["body"], "msg": "x"}]})
    assert not is_envelope({"error": {"message": "m", "type": "", "code": "c"}})
    assert not is_envelope({"error": {"message": "m", "type": "t"}})


def test_every_operation_against_generated_requests(arena: FuzzArena) -> None:
    report = fuzz(arena, max_examples=MAX_EXAMPLES, seed=SEED)
    assert report.calls > 100
    assert not any(status >= 500 for status in report.statuses), report.statuses
    problems = [f"{op}: {what}\n{example}" for (op, what), example in report.failures.items()]
    assert not problems, "\n\n".join(problems)
