"""The built-in rules: multi_turn, long_query, coding, math and lang:<ISO 639-1>.

They read the user messages only (DESIGN: categories come from the prompt), unlike FastChat's
code tagger, which also reads the answers (an answer with a code block would make "write me a
haiku" a coding battle there).

- `multi_turn`: two turns or more (FastChat's "Multi-Turn": >= 2 turns).
- `long_query`: a user message of at least 500 tokens (FastChat's "Longer Query"), by
  `arena.categories.tokens.approx_tokens`.
- `coding`: FastChat's code tagger, in order: a code fence (blocks marked ```plaintext or
  ```markdown do not count, nor a request for "ascii art"); a programming word (git, github,
  pull request, dataframe, nginx, pip, ...) or language name (python, c++, java, sql, bash,
  linux, ...) as a whole word; a library (pytorch, sklearn, import numpy, ...); or code-shaped
  text (`from x import y`, `#include <x>`, `pip install`, `def f(...):`, `function f(`,
  `console.log(`, `SELECT ... FROM`, HTML tags, a shebang).
- `math`: FastChat asks a model "does this require solving a math problem?"; as a rule we
  take notation (LaTeX commands or `$...$` with an operator, math symbols such as ∫ √ ≤ π),
  equations (`2x + 3 = 11`, `x^2`, `17 * 23`), math vocabulary in English (integral,
  derivative, polynomial, prove that, probability of, ...) and word problems (a quantity
  question such as "how many"/"how much"/"how far" with two or more numbers).
- `lang:xx`: the language of each user message (arena.categories.language), one tag per
  distinct language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from arena.categories import language
from arena.categories.classify import Conversation
from arena.categories.tokens import approx_tokens

LONG_QUERY_TOKENS = 500
# Latin-script languages other than English split into more tokens per word (tokens.py).
_LATIN_NOT_ENGLISH = {"cs", "de", "es", "fr", "id", "it", "nl", "pl", "pt", "sv", "tr", "vi"}
_NON_ENGLISH_SCALE = 1.3

_SKIPPED_FENCE = re.compile(r"```(?:plaintext|markdown)\b.*?(?:```|\Z)", re.DOTALL | re.I)
_WORD = re.compile(r"[a-z][a-z0-9+#]*")
_CODE_WORDS = frozenset({
    "git", "github", "gitlab", "dataframe", "nginx", "pip", "npm", "docker", "kubernetes",
    "regex", "stacktrace", "segfault", "python", "c++", "cpp", "c#", "java", "javascript",
    "typescript", "html", "css", "sql", "bash", "powershell", "matlab", "golang", "linux",
    "ubuntu", "kotlin", "haskell", "php", "perl", "django", "numpy", "pandas", "jax",
    "tensorflow", "pytorch", "keras", "sklearn", "jupyter", "json", "yaml", "api",
})  # fmt: skip
_CODE_PHRASES = ("pull request", "scikit-learn", "stack trace", "apt-get ", "import torch")
_CODE_SHAPES = re.compile(
    r"from \w+(?:\.\w+)* import \w+"
    r"|\bimport \w+ as \w+"
    r"|(?:conda|pip3?) install \w+"
    r'|#include\s*[<"][\w./]+[>"]'
    r"|\bdef \w+\(.*\)\s*(?:->.*)?:"
    r"|\bfunction\s*\w*\s*\([^)]*\)\s*\{"
    r"|console\.log\("
    r"|\bpublic\s+(?:static\s+)?(?:void|class|int)\b"
    r"|\bint\s+main\s*\("
    r"|\bSELECT\b[\s\S]+?\bFROM\b"
    r"|</?(?:div|span|html|body|script|head|table)\b[^>]*>"
    r"|^#!/\S+"
    r"|\w+\[\w*\]\s*=",
    re.MULTILINE,
)

_MATH_NOTATION = re.compile(
    r"\\(?:frac|int|sum|prod|sqrt|lim|infty|partial|alpha|beta|theta|pi|cdot|times|leq|geq|"
    r"neq|binom|log|ln|sin|cos|tan|begin\{(?:equation|align|pmatrix|bmatrix))"
    r"|\$[^$\n]*[=^+\-*/<>][^$\n]*\$"
    # Integral, sums, roots, infinity, partials, comparisons, plus-minus, division and
    # multiplication signs, pi, theta, set and logic symbols.
    "|[\u222b\u2211\u220f\u221a\u221e\u2202\u2207\u2264\u2265\u2260\u2248\u00b1"
    "\u00f7\u00d7\u03c0\u03b8\u2208\u2200\u2203\u2282\u222a\u2229]"
)
_EQUATION = re.compile(
    r"\b\d*[a-z]\s*\^\s*\d"  # x^2, 3y^3
    r"|\b\d+(?:\.\d+)?\s*[a-z]?\s*[-+*/]\s*\d*(?:\.\d+)?\s*[a-z]?\s*=\s*-?\d"  # 2x + 3 = 11
    r"|\b\d+(?:\.\d+)?\s*[*/\u00d7\u00f7^]\s*\d+"  # 17 * 23
    r"|\b\d+\s*[-+]\s*\d+\s*[=?]"  # 2 + 2 = / 2 + 2?
    r"|\b[a-z]\s*=\s*-?\d+(?:\.\d+)?\s*[-+*/]\s*\d"  # y = 3 * 4
    r"|\b[fgh]\([a-z]\)\s*="  # f(x) =
)
_MATH_WORDS = re.compile(
    r"\b(?:integral|integrate|derivative|differentiate|polynomial|quadratic|equation|"
    r"inequality|theorem|lemma|prove that|proof that|probability (?:of|that)|expected value|"
    r"eigen\w*|matri(?:x|ces)|determinant|logarithm|factorial|prime numbers?|divisible|"
    r"greatest common divisor|least common multiple|arithmetic (?:sequence|series|progression)|"
    r"geometric (?:sequence|series|progression)|permutations?|combinations of|"
    r"solve for [a-z]|simplify the expression|calculus|algebra|trigonometr\w*|hypotenuse)\b",
    re.I,
)
_QUANTITY_QUESTION = re.compile(
    r"\b(?:how (?:many|much|long|far|fast|old)|what (?:is|was) the (?:total|average|sum|"
    r"product|area|volume|perimeter|speed|percentage|probability)|what percent\w*|"
    r"calculate|compute)\b",
    re.I,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def is_coding(prompt: str) -> bool:
    text = _SKIPPED_FENCE.sub(" ", prompt)
    lowered = text.lower()
    if "ascii art" in lowered:
        return False
    if "```" in text:
        return True
    if not _CODE_WORDS.isdisjoint(_WORD.findall(lowered)):
        return True
    if any(p in lowered for p in _CODE_PHRASES):
        return True
    return _CODE_SHAPES.search(text) is not None


def is_math(prompt: str) -> bool:
    if _MATH_NOTATION.search(prompt) or _EQUATION.search(prompt.lower()):
        return True
    if _MATH_WORDS.search(prompt):
        return True
    return bool(_QUANTITY_QUESTION.search(prompt)) and len(_NUMBER.findall(prompt)) >= 2


def is_long(prompt: str, lang: str | None) -> bool:
    scale = _NON_ENGLISH_SCALE if lang in _LATIN_NOT_ENGLISH else 1.0
    return approx_tokens(prompt, ascii_scale=scale) >= LONG_QUERY_TOKENS


def tag(conversation: Conversation) -> Iterable[str]:
    prompts = conversation.prompts
    langs = [language.detect(p) for p in prompts]
    tags = {f"lang:{lang}" for lang in langs if lang}
    if len(prompts) >= 2:
        tags.add("multi_turn")
    if any(is_long(p, lang) for p, lang in zip(prompts, langs, strict=True)):
        tags.add("long_query")
    if any(is_coding(p) for p in prompts):
        tags.add("coding")
    if any(is_math(p) for p in prompts):
        tags.add("math")
    return tags
