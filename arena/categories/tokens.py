"""A dependency-free estimate of how many tokens a text is, for `long_query`.

FastChat counts with tiktoken's cl100k_base (the gpt-3.5/gpt-4 encoding). We split text the
way that encoding's pre-tokenizer does (letter runs with one leading space or sign, digit
groups of at most three, punctuation runs, newlines) and charge each piece what cl100k's BPE
typically makes of it: an ASCII word one token up to eight letters and one more per further
five (`ascii_scale` multiplies this, for Latin-script languages other than English, whose
words BPE splits more: 1.3 by the fixtures); a word with other letters a rate per letter by
script (Cyrillic 0.6, Latin with diacritics 0.6 and its ASCII letters 0.4, Arabic and Hebrew
0.86, kana 1.07, Hangul 1.4, CJK ideographs 1.5); a punctuation run one per two characters.

Calibration: the rates were fitted to cl100k_base counts (the `bpe-openai` package, which
ships the encoding, in a scratch interpreter: it is not a dependency) on English prose and
Markdown (README.md), Python source (arena/) and tests/fixtures/short_prompts.tsv in 16
languages; `benchmarks/bench_categories.py --calibration-python PY` prints the table. The
estimate is 0.96 of the real count on prose and Markdown, 0.99 on code, 0.95-1.02 on German,
French, Spanish, Portuguese, Russian, Ukrainian, Arabic, Korean and English prompts, and off
by up to 27% on Italian, Polish, Turkish, Vietnamese (low) and Japanese (high). Scripts
without fixtures (Greek, Thai, Devanagari, ...) use 0.9 per letter, uncalibrated.
"""

from __future__ import annotations

import re

# cl100k_base's pre-tokenizer written with Python's `re`: [^\W\d_] is a letter.
_PIECES = re.compile(
    r"'(?:[sdmt]|ll|ve|re)"
    r"|[^\r\n\w]?[^\W\d_]+"
    r"|\d{1,3}"
    r"| ?[^\s\w]+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+",
    re.IGNORECASE,
)

ASCII_WORD_LETTERS = 8
ASCII_EXTRA_LETTERS = 5
PUNCT_CHARS_PER_TOKEN = 2
# (first code point, last code point, tokens per letter), by script.
_SCRIPT_RATES = (
    (0x00C0, 0x024F, 0.6),  # Latin-1 letters and Latin Extended-A/B
    (0x1E00, 0x1EFF, 0.6),  # Latin Extended Additional (Vietnamese)
    (0x0400, 0x052F, 0.6),  # Cyrillic
    (0x0590, 0x06FF, 0.86),  # Hebrew, Arabic
    (0x3040, 0x30FF, 1.07),  # Hiragana, Katakana
    (0x1100, 0x11FF, 1.4),  # Hangul Jamo
    (0xAC00, 0xD7AF, 1.4),  # Hangul syllables
    (0x3400, 0x9FFF, 1.5),  # CJK ideographs
    (0xF900, 0xFAFF, 1.5),
)
_OTHER_RATE = 0.9
# ASCII letters inside a word that has other letters: such words are rarely English.
_ASCII_LETTER_RATE = 0.4


def _letter_rate(ch: str) -> float:
    cp = ord(ch)
    if cp < 0x80:
        return _ASCII_LETTER_RATE
    for lo, hi, rate in _SCRIPT_RATES:
        if lo <= cp <= hi:
            return rate
    return _OTHER_RATE


def _piece_tokens(piece: str, ascii_scale: float) -> float:
    body = piece.strip()
    if not body:
        return 1.0
    if body.isascii():
        letters = sum(ch.isalpha() for ch in body)
        if letters:
            extra = max(0, letters - ASCII_WORD_LETTERS)
            return (1.0 + -(-extra // ASCII_EXTRA_LETTERS)) * ascii_scale
        if body.isdigit():
            return 1.0
        return float(-(-len(body) // PUNCT_CHARS_PER_TOKEN))
    rates = [_letter_rate(ch) for ch in body if ch.isalpha()]
    if not rates:
        return float(-(-len(body) // PUNCT_CHARS_PER_TOKEN))
    return max(1.0, sum(rates))


def approx_tokens(text: str, *, ascii_scale: float = 1.0) -> int:
    """Estimated cl100k_base token count of ``text``."""
    return round(sum(_piece_tokens(p, ascii_scale) for p in _PIECES.findall(text)))
