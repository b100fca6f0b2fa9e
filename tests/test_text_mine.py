"""Extraction, filters, chunking and pairs on real-shaped pages, with exact expected outputs."""

import json

import pytest

from cpt_core.data.dead_letter import DeadLetter
from cpt_core.data.filtered import Filtered
from cpt_core.text.chunk import ChunkConfig, chunk, consecutive_pairs
from cpt_core.text.config import TextMiningConfig
from cpt_core.text.extract import Undecodable, html_text, page_lines
from cpt_core.text.filters import (
    STOP_WORDS,
    TextFilterConfig,
    denied,
    document_reason,
    strip_boilerplate,
)
from cpt_core.text.mine import Document, document_of, pairs_of
from cpt_core.text.page import Page

PARAGRAPHS = [
    "Lighthouses were built along dangerous coasts to warn ships of rocks and shallow water at night.",
    "Early towers burned wood or coal in open fires, which were hard to see in rain and fog.",
    "In the nineteenth century the Fresnel lens gathered the light of a single lamp into a strong beam.",
    "Keepers lived at the station with their families and trimmed the wicks every few hours.",
    "Today most lights are automatic, and the old keepers' houses have become museums for visitors.",
]
PAGE = f"""<!doctype html><html><head><meta charset="windows-1252"><title>Lighthouses</title></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a> | <a href="/contact">Contact</a></nav>
<div id="cookie">We use cookies to improve your experience. Accept all cookies</div>
<main><h1>A short history of lighthouses</h1>
{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}
<p>Visit the museum caf\xe9 after your tour.</p></main>
<footer>Copyright 2024 Coastal Society. All rights reserved.</footer></body></html>""".encode(
    "cp1252"
)


def words(texts: list[str]) -> list[int]:
    """A deterministic token counter for tests: one token per word."""
    return [len(t.split()) for t in texts]


def test_html_main_text_keeps_blocks_and_detects_the_charset():
    lines = page_lines(Page("https://coast.example/history", "f.warc", "r1", html=PAGE))
    assert "A short history of lighthouses" in lines
    assert lines[lines.index(PARAGRAPHS[0]) : lines.index(PARAGRAPHS[0]) + 5] == PARAGRAPHS
    assert "Visit the museum café after your tour." in lines  # cp1252 detected, not mojibake
    assert not any("cookies" in line or "Contact" in line or "rights" in line for line in lines)


def test_boilerplate_lines_are_removed_and_content_mentioning_them_is_kept():
    lines = [
        "Home | About | Contact",
        "We use cookies to improve your experience. Accept all cookies",
        "Copyright 2024 Coastal Society. All rights reserved.",
        "Skip to content",
        PARAGRAPHS[0],
        "A browser cookie is a small piece of data that a website stores on your computer "
        "so that it can remember your visit, your settings and what was in your basket.",
    ]
    assert strip_boilerplate(lines, TextFilterConfig()) == lines[4:]


def text_of(n_words: int, vocabulary: list[str] | None = None) -> list[str]:
    words_ = (" ".join(PARAGRAPHS)).split() if vocabulary is None else vocabulary
    out = [words_[i % len(words_)] for i in range(n_words)]
    return [" ".join(out[i : i + 12]) for i in range(0, len(out), 12)]


@pytest.mark.parametrize(
    ("lines", "language", "reason"),
    [
        (PARAGRAPHS, "en", None),
        (PARAGRAPHS[:2], "en", "too_few_words"),
        (
            [*PARAGRAPHS, "Lorem ipsum dolor sit amet, consectetur adipiscing elit."],
            "en",
            "lorem_ipsum",
        ),
        (text_of(80, ["a", "an", "to", "of", "by"]), "en", "mean_word_length"),
        (text_of(80, ["the", "####", "lighthouse", "keeper", "lamp"]), "en", "symbols"),
        (
            [
                " ".join(w if i % 4 else f"{i}.{i}" for i, w in enumerate(p.split()))
                for p in PARAGRAPHS
            ],
            "en",
            "non_alphabetic",
        ),
        ([f"• {p}" for p in PARAGRAPHS], "en", "bullet_lines"),
        ([f"{p[:60]}..." for p in PARAGRAPHS * 2], "en", "ellipsis_lines"),
        (PARAGRAPHS + PARAGRAPHS[:3], "en", "repeated_lines"),
        (
            [
                " ".join(PARAGRAPHS[0].split()[:6]) + " " + w
                for w in [
                    "alpha",
                    "beta",
                    "gamma",
                    "delta",
                    "epsilon",
                    "zeta",
                    "eta",
                    "theta",
                    "iota",
                    "kappa",
                ]
            ],
            "en",
            "repeated_ngrams",
        ),
        (
            [" ".join(w for w in p.split() if w.lower() not in STOP_WORDS) for p in PARAGRAPHS],
            "en",
            "no_stop_words",
        ),
        (["灯塔建在危险的海岸上，夜间警告船只注意岩石和浅水。"], "zh", None),  # word checks skipped
    ],
)
def test_each_quality_filter_reason(lines, language, reason):
    assert document_reason(lines, language, TextFilterConfig()) == reason


def test_deny_lists_match_hosts_with_subdomains_and_url_patterns():
    config = TextFilterConfig(deny_hosts=("spam.example",), deny_url_patterns=(r"(?i)casino",))
    assert denied("http://www.spam.example/x", config) and denied("http://spam.example", config)
    assert not denied("http://notspam.example/", config)
    assert denied("https://a.example/Casino-bonus", config)


def test_chunks_pack_lines_and_split_long_ones_at_sentences_then_words():
    long_line = "One two three four five. Six seven eight nine ten eleven twelve thirteen fourteen."
    lines = ["alpha beta gamma", "delta epsilon", long_line, "zeta"]
    assert chunk(lines, words, 6) == [
        ("alpha beta gamma\ndelta epsilon", 5),  # short lines packed together
        ("One two three four five.", 5),  # a long line cut at its sentence end
        ("Six seven eight nine ten", 5),  # a long sentence cut into runs of words
        ("eleven twelve thirteen fourteen.\nzeta", 5),
    ]
    passages = chunk(lines, words, 6)
    assert all(n <= 6 for _, n in passages)
    assert " ".join(p for p, _ in passages).split() == " ".join(lines).split()  # nothing lost


def test_pairs_are_consecutive_passages_with_stride_min_length_and_cap():
    passages = [("a " * n, n) for n in (20, 20, 5, 20, 20, 20)]
    assert consecutive_pairs(passages, ChunkConfig(min_tokens=16)) == (
        [(0, 1), (3, 4), (4, 5)],
        2,
        0,
    )
    assert consecutive_pairs(passages, ChunkConfig(min_tokens=16, stride=2)) == (
        [(0, 1), (4, 5)],
        1,
        0,
    )
    assert consecutive_pairs(passages, ChunkConfig(min_tokens=16, max_pairs_per_document=1)) == (
        [(0, 1)],
        2,
        2,
    )


def test_document_of_a_real_shaped_page_then_its_pairs():
    page = Page(
        "https://www.coast.example/history",
        "crawl.warc.gz",
        "<urn:uuid:1>",
        "2024-05-01T00:00:00Z",
        html=PAGE,
    )
    [doc] = document_of(page, TextMiningConfig(filters=TextFilterConfig(min_words=40)))
    assert isinstance(doc, Document) and doc.language == "en" and doc.host == "coast.example"
    assert doc.lines[1:6] == tuple(PARAGRAPHS)
    rows = [
        r
        for r in pairs_of(doc, words, ChunkConfig(max_tokens=40, min_tokens=10))
        if isinstance(r, dict)
    ]
    assert [r["x"].split("\n")[0] for r in rows] == [
        "A short history of lighthouses",
        PARAGRAPHS[2],
    ]
    assert rows[0]["y"].startswith(PARAGRAPHS[2]) and rows[1]["x"] == rows[0]["y"]
    meta = json.loads(rows[0]["meta"])
    assert (
        meta["chunks"] == [0, 1]
        and meta["record_id"] == "<urn:uuid:1>"
        and meta["date"].startswith("2024")
    )
    assert (
        rows[0]["kind"] == "text"
        and rows[0]["source"] == page.url
        and rows[0]["split"] in {"train", "valid", "test"}
    )


def test_undecodable_binary_other_language_and_denied_pages():
    config = TextMiningConfig()
    binary = Page("http://a.example/x", "f", "r", html=b"<html>\x00\x01\x02" * 100)
    assert isinstance(next(document_of(binary, config)), DeadLetter)
    with pytest.raises(Undecodable):
        html_text(b"\x00" * 10)
    german = Page(
        "http://a.example/de",
        "f",
        "r",
        text="Der Leuchtturm warnt die Schiffe in der Nacht vor den Felsen und dem flachen Wasser.",
    )
    assert list(document_of(german, config)) == [Filtered("language_de", unit="page")]
    denied_page = Page("http://www.pornhub.example/x", "f", "r", text="x")
    preset = TextMiningConfig.model_validate({"filters": {"deny_url_patterns": ["(?i)porn"]}})
    assert list(document_of(denied_page, preset)) == [Filtered("denied_url", unit="page")]
