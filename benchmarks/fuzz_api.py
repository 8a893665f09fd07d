"""A long schemathesis run over the OpenAPI schema (the short one is tests/fuzz/test_api_fuzz.py).

    python -m benchmarks.fuzz_api [--seconds 300] [--max-examples 200] [--seed 1]

Passes over every operation (valid, then invalid data), each pass with the next seed, until
the time is spent; prints and saves the requests sent, the statuses seen, and every distinct
failure (server errors, errors outside the envelope, responses the schema does not document)
with one example each. Needs schemathesis (a test dependency). Loopback only: see
tests/fuzz/harness.py.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, loadavg, write_results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz_api")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "fuzz_api.json")
    args = parser.parse_args(argv)

    import schemathesis

    from tests.fuzz.harness import Report, fuzz, fuzz_arena

    total = Report()
    passes: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, fuzz_arena(Path(folder)) as arena:
        seed = args.seed
        while (left := args.seconds - (time.monotonic() - started)) > 0:
            report = fuzz(arena, max_examples=args.max_examples, seed=seed, budget_seconds=left)
            passes.append(
                {"seed": seed, "calls": report.calls, "seconds": round(report.seconds, 1)}
            )
            total.calls += report.calls
            total.statuses.update(report.statuses)
            total.tolerated.update(report.tolerated)
            for key, example in report.failures.items():
                total.failures.setdefault(key, example)
            seed += 1
    elapsed = time.monotonic() - started
    results = {
        "schemathesis": schemathesis.__version__,
        "seconds": round(elapsed, 1),
        "max_examples_per_operation_and_mode": args.max_examples,
        "passes": passes,
        "requests": total.calls,
        "requests_per_second": round(total.calls / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(total.statuses.items())},
        "server_errors": sum(v for k, v in total.statuses.items() if k >= 500),
        "failures": [
            {"operation": op, "failure": what, "example": example}
            for (op, what), example in sorted(total.failures.items())
        ],
        # Downloads whose media type the schema does not document yet, checked against the
        # requested format instead (tests/fuzz/harness.py DOWNLOADS).
        "undocumented_download_media_types": dict(total.tolerated),
        "loadavg": loadavg(),
    }
    print(write_results(args.out, results))
    return results


if __name__ == "__main__":
    main()
