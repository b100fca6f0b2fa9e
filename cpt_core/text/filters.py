"""Document quality filters after Gopher (Rae et al. 2021, appendix A) and C4 (Raffel et al. 2020).

Each check returns the reason a document is dropped, so the manifest counts every reason.
Boilerplate lines (cookie banners, navigation, "all rights reserved") are removed rather than
dropping the page, as C4 does, and counted by the line. Word-based checks assume words are
separated by spaces, so they are skipped for languages written without (zh, ja, th, ...); the
symbol, repetition and boilerplate checks apply to every language.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

from pydantic import Field

from cpt_core.config import Strict

SPACELESS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("•", "●", "◦", "▪", "‣", "-", "*", "·")
BOILERPLATE = re.compile(
    r"\b(cookies?|javascript|privacy policy|terms of (use|service)|all rights reserved|"
    r"skip to (main )?content|sign in|log ?in|sign up|subscribe|newsletter|share (this|on)|"
    r"follow us|back to top|powered by|copyright)\b|©",
    re.IGNORECASE,
)
NAVIGATION = re.compile(r"\s[|»›>/·]\s")  # "Home | About | Contact", breadcrumbs


class TextFilterConfig(Strict):
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_ratio: float = 0.1  # '#' and '...' per word
    min_alpha_word_share: float = 0.8  # words with at least one letter
    max_bullet_line_share: float = 0.9
    max_ellipsis_line_share: float = 0.3
    max_duplicate_line_share: float = 0.3
    max_duplicate_line_char_share: float = 0.2
    max_top_ngram_char_share: dict[int, float] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16}
    )
    max_duplicate_ngram_char_share: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )
    boilerplate_max_words: int = 20  # longer lines are content even when they say "cookie"
    deny_hosts: tuple[str, ...] = ()  # a host and all its subdomains
    deny_url_patterns: tuple[str, ...] = ()  # regular expressions searched in the URL


def denied(url: str, config: TextFilterConfig) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if any(host == d or host.endswith("." + d) for d in config.deny_hosts):
        return True
    return any(re.search(pattern, url) for pattern in config.deny_url_patterns)


def strip_boilerplate(lines: list[str], config: TextFilterConfig) -> list[str]:
    """The lines that are not banners, navigation or legal notices."""
    return [line for line in lines if not _is_boilerplate(line, config.boilerplate_max_words)]


def _is_boilerplate(line: str, max_words: int) -> bool:
    if len(line.split()) > max_words:
        return False
    return bool(BOILERPLATE.search(line) or NAVIGATION.search(f" {line} "))


def document_reason(lines: list[str], language: str, config: TextFilterConfig) -> str | None:
    """Why the document (its lines after boilerplate removal) is dropped; None to keep it."""
    text = "\n".join(lines)
    if "lorem ipsum" in text.lower():
        return "lorem_ipsum"
    words = text.split()
    if language not in SPACELESS:
        if len(words) < config.min_words:
            return "too_few_words"
        if len(words) > config.max_words:
            return "too_many_words"
        mean = sum(map(len, words)) / len(words)
        if not config.min_mean_word_length <= mean <= config.max_mean_word_length:
            return "mean_word_length"
    if not words:
        return "too_few_words"
    symbols = text.count("#") + text.count("...") + text.count("…")
    if symbols / len(words) > config.max_symbol_ratio:
        return "symbols"
    if sum(any(c.isalpha() for c in w) for w in words) / len(words) < config.min_alpha_word_share:
        return "non_alphabetic"
    if sum(line.startswith(BULLETS) for line in lines) / len(lines) > config.max_bullet_line_share:
        return "bullet_lines"
    ellipsis = sum(line.endswith(("...", "…")) for line in lines)
    if ellipsis / len(lines) > config.max_ellipsis_line_share:
        return "ellipsis_lines"
    if reason := repetition_reason(lines, words, config):
        return reason
    if language == "en" and len(STOP_WORDS.intersection(w.lower() for w in words)) < 2:
        return "no_stop_words"
    return None


def repetition_reason(lines: list[str], words: list[str], config: TextFilterConfig) -> str | None:
    """Gopher's repetition checks, with the definitions datatrove (FineWeb) uses: repeats count
    from the second occurrence on, as a share of lines or of the text's characters."""
    text_chars = max(1, sum(map(len, lines)) + len(lines) - 1)
    seen: set[str] = set()
    duplicate_lines = duplicate_chars = 0
    for line in lines:
        if line in seen:
            duplicate_lines += 1
            duplicate_chars += len(line)
        seen.add(line)
    if duplicate_lines / len(lines) > config.max_duplicate_line_share:
        return "repeated_lines"
    if duplicate_chars / text_chars > config.max_duplicate_line_char_share:
        return "repeated_lines"
    for n, limit in config.max_top_ngram_char_share.items():
        grams = Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        if grams:
            gram, count = grams.most_common(1)[0]
            if count > 1 and len(gram) * count / text_chars > limit:
                return "repeated_ngrams"
    for n, limit in config.max_duplicate_ngram_char_share.items():
        if _repeated_ngram_chars(words, n) / text_chars > limit:
            return "repeated_ngrams"
    return None


def _repeated_ngram_chars(words: list[str], n: int) -> int:
    """Characters in n-grams seen before, stepping past each repeat (no overlaps counted)."""
    seen: set[str] = set()
    repeated, i = 0, 0
    while i <= len(words) - n:
        gram = "".join(words[i : i + n])
        if gram in seen:
            repeated += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated
