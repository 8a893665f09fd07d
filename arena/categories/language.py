"""Language of a user message: lingua, high-accuracy mode, over a fixed set of languages.

Why this detector and this configuration (benchmarks/bench_categories.py measures it on the
180 labelled prompts of 1-12 words in 16 languages in tests/fixtures/short_prompts.tsv):
lingua is built for short text (it scores every n-gram length from 1 to 5 instead of one
profile), and on those prompts high-accuracy mode over the 24 languages below is right on
177 (98.3%); over all 75 languages 172 (95.6%); low-accuracy mode 166 (92.2%) restricted and
151 (83.9%) over all. The price is memory and loading: about 440 MB per process for this set
(1.1 GB for every language; 42 MB in low-accuracy mode), loaded per language the first time a
text in its script is seen (several seconds for the Latin-script languages). Restricting the
set also stops the rare-language guesses that short prompts provoke ("Hello" as Sesotho,
"Tell me a joke" as Finnish, "Ciao, come stai?" as Maori). A prompt in a language outside the
set is tagged with the nearest language inside it. Changing the set or the mode changes tags:
bump `arena.categories.RULES_VERSION`.

The detector is built once per process, on first use, under a lock (nothing at import); the
built detector is safe to share between threads.
"""

from __future__ import annotations

import re
import threading
from typing import Any

LANGUAGES = (
    "ar", "cs", "de", "el", "en", "es", "fa", "fr", "he", "hi", "id", "it",
    "ja", "ko", "nl", "pl", "pt", "ru", "sv", "th", "tr", "uk", "vi", "zh",
)  # fmt: skip
# Detection reads this much of a message: plenty for a language, bounded in time.
MAX_CHARS = 2000
_FENCED = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)

_lock = threading.Lock()
_detector: Any = None


def detector() -> Any:
    """The process's lingua detector, built on first call."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [getattr(IsoCode639_1, c.upper()) for c in LANGUAGES]
                _detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()
    return _detector


def prose(text: str) -> str:
    """The message without its code (fenced blocks and inline code), which reads as English."""
    return _FENCED.sub(" ", text)


def detect(text: str) -> str | None:
    """ISO 639-1 code of the message's language; None when it has no letters outside code."""
    body = prose(text)[:MAX_CHARS]
    if not any(ch.isalpha() for ch in body):
        return None
    found = detector().detect_language_of(body)
    return None if found is None else str(found.iso_code_639_1.name).lower()


# One sentence per script the set covers: detecting them loads every language model up front.
_WARM_TEXTS = (
    "How are you today, and what should we cook tonight?",
    "Как дела сегодня?",
    "كيف حالك اليوم؟",
    "今天天气怎么样",
    "今日はいい天気ですね。",
    "오늘 날씨 어때요?",
    "आज मौसम कैसा है?",
    "Πώς είσαι σήμερα;",
    "מה שלומך היום?",
    "วันนี้อากาศเป็นอย่างไร",
)


def warm() -> None:
    """Build the detector and load its language models, so no turn waits for them."""
    for text in _WARM_TEXTS:
        detect(text)


def warm_in_background() -> threading.Thread | None:
    """Start `warm` on a daemon thread unless the detector is built already."""
    if _detector is not None:
        return None
    thread = threading.Thread(target=warm, name="language-detector-warmup", daemon=True)
    thread.start()
    return thread
