"""Categories: classification time per vote, and the language detector's configurations.

Three parts, all seeded:

1. Time per vote of `arena.categories.categorize` (what turn close runs) over synthetic
   conversations drawn from tests/fixtures/short_prompts.tsv, code and math prompts, long
   prompts and multi-turn ones; p50/p99 after the detector is built (its build is reported
   on its own).
2. lingua configurations (high/low accuracy mode x all languages / our restricted set), each
   in a child process so its memory is its own: accuracy on the labelled short prompts, peak
   RSS added, the first pass over the prompts (models load lazily) and time per prompt after.
3. With `--calibration-python PY` (an interpreter that has the `bpe-openai` package, which
   ships tiktoken's cl100k_base: not a dependency of the arena), the token estimate against
   cl100k_base counts per text kind; skipped otherwise.

    python -m benchmarks.bench_categories [--votes N] [--seed S] [--calibration-python PY]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, ROOT, describe, loadavg, write_results

FIXTURE = ROOT / "tests" / "fixtures" / "short_prompts.tsv"

CODE = [
    "```python\nimport os\nfor f in os.listdir('.'):\n    print(f)\n```\nWhy is it slow?",
    "How do I center a div with CSS grid?",
    "Write a bash script that backs up my home folder every night",
]
MATH = [
    "Solve 3x^2 - 12 = 0",
    "What is the probability of drawing two aces from a deck?",
    "A car travels 150 km in 2.5 hours. How fast is it going?",
]
PARAGRAPH = (
    "Our team is planning a product launch for next quarter and we need a detailed plan "
    "covering marketing, logistics, hiring, and a budget with a contingency reserve. "
)

_CHILD = r"""
import json, sys, time
from lingua import IsoCode639_1, LanguageDetectorBuilder
from arena.categories.language import LANGUAGES
mode, scope, path = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.rstrip("\n").split("\t") for l in open(path, encoding="utf-8")
        if l.strip() and not l.startswith("#")]
def status_mb(field):
    # VmHWM is the peak of this process image; getrusage's maxrss would carry the parent's
    # peak across fork and exec.
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
base = status_mb("VmRSS")
if scope == "all":
    b = LanguageDetectorBuilder.from_all_languages()
else:
    b = LanguageDetectorBuilder.from_iso_codes_639_1(
        *[getattr(IsoCode639_1, c.upper()) for c in LANGUAGES])
if mode == "low":
    b = b.with_low_accuracy_mode()
d = b.build()
t = time.perf_counter()
for _, text in rows:
    d.detect_language_of(text)
first = time.perf_counter() - t
times, right = [], 0
for lang, text in rows:
    t = time.perf_counter()
    got = d.detect_language_of(text)
    times.append(time.perf_counter() - t)
    right += got is not None and got.iso_code_639_1.name.lower() == lang
times.sort()
print(json.dumps({
    "accuracy": round(right / len(rows), 4), "right": right, "prompts": len(rows),
    "rss_added_mb": round(status_mb("VmHWM") - base, 1),
    "first_pass_s": round(first, 3),
    "per_prompt_us": {"p50": round(times[len(times) // 2] * 1e6, 1),
                      "p99": round(times[int(0.99 * (len(times) - 1))] * 1e6, 1)},
}))
"""

_CALIBRATE = r"""
import glob, importlib.util, json, sys
import bpe_openai
# tokens.py alone: this interpreter has bpe-openai, not the arena's dependencies.
spec = importlib.util.spec_from_file_location("tokens", sys.argv[1] + "/arena/categories/tokens.py")
tokens = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tokens)
approx_tokens = tokens.approx_tokens
enc = bpe_openai.get_encoding("cl100k_base")
root = sys.argv[1]
kinds = {
    "english prose (README paragraphs)": [
        p for p in open(root + "/README.md", encoding="utf-8").read().split("\n\n") if len(p) > 200],
    "markdown (README sections)": open(root + "/README.md", encoding="utf-8").read().split("\n## "),
    "python source (arena/)": [
        open(f, encoding="utf-8").read() for f in sorted(glob.glob(root + "/arena/**/*.py", recursive=True))],
}
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2], encoding="utf-8")
        if l.strip() and not l.startswith("#")]
for lang in sorted({l for l, _ in rows}):
    kinds["short prompts " + lang] = ["\n".join(t for l, t in rows if l == lang)]
out = {}
latin = {"cs","de","es","fr","id","it","nl","pl","pt","sv","tr","vi"}
for name, texts in kinds.items():
    scale = 1.3 if name.split()[-1] in latin else 1.0
    real = sum(len(enc.encode(t)) for t in texts)
    est = sum(approx_tokens(t, ascii_scale=scale) for t in texts)
    out[name] = {"cl100k": real, "estimate": est, "ratio": round(est / real, 3)}
print(json.dumps(out))
"""


def labelled() -> list[tuple[str, str]]:
    rows = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            lang, text = line.split("\t")
            rows.append((lang, text))
    return rows


def conversations(n: int, rng: random.Random) -> list[tuple[str, ...]]:
    short = [t for _, t in labelled()]
    out = []
    for _ in range(n):
        turns = 1 if rng.random() < 0.8 else rng.randint(2, 4)
        prompts = []
        for _ in range(turns):
            r = rng.random()
            if r < 0.6:
                prompts.append(rng.choice(short))
            elif r < 0.75:
                prompts.append(rng.choice(CODE))
            elif r < 0.9:
                prompts.append(rng.choice(MATH))
            else:
                prompts.append(PARAGRAPH * rng.randint(5, 40))
        out.append(tuple(prompts))
    return out


def time_votes(n: int, seed: int) -> dict[str, Any]:
    from arena.categories import Conversation, categorize
    from arena.categories.language import detector

    t = time.perf_counter()
    detector().detect_language_of("warm up the detector")
    build = time.perf_counter() - t
    convs = [Conversation(p) for p in conversations(n, random.Random(seed))]
    for conv in convs[:50]:  # first sight of each language loads its models
        categorize(conv)
    times, tags = [], 0
    for conv in convs:
        t = time.perf_counter()
        tags += len(categorize(conv))
        times.append(time.perf_counter() - t)
    return {
        "votes": n,
        "detector_build_and_first_call_s": round(build, 2),
        "per_vote_ms": describe(times, scale=1000, digits=3),
        "tags_per_vote": round(tags / n, 2),
    }


def lingua_configs() -> dict[str, Any]:
    out = {}
    for mode in ("high", "low"):
        for scope in ("restricted", "all"):
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, mode, scope, str(FIXTURE)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            out[f"{mode}-accuracy/{scope}"] = json.loads(proc.stdout)
    return out


def calibration(python: str | None) -> dict[str, Any] | str:
    if not python or not Path(python).exists():
        return "skipped: pass --calibration-python with an interpreter that has bpe-openai"
    proc = subprocess.run(
        [python, "-c", _CALIBRATE, str(ROOT), str(FIXTURE)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibration-python", default=None)
    args = parser.parse_args()
    results = {
        "benchmark": "categories",
        "seed": args.seed,
        "loadavg": loadavg(),
        "classification": time_votes(args.votes, args.seed),
        "lingua": lingua_configs(),
        "token_calibration": calibration(args.calibration_python),
    }
    print(write_results(RESULTS / "categories.json", results))


if __name__ == "__main__":
    main()
