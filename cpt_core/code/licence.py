"""A repository's licence as an SPDX id, from its LICENSE/COPYING file (or Debian's copyright).

Licences with a title (GPL family, Apache, MPL, PSF) are recognised by their heading only:
their bodies name other licences (GPL-3 cites the Affero GPL, MPL-2.0 lists the GPLs as
secondary licences). Title-less permissive licences (MIT, BSD, ISC) are recognised by phrases
of their body. Anything unrecognised is reported as "unknown" rather than guessed.
"""

from __future__ import annotations

import re

UNKNOWN = "unknown"
LICENCE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING", "copyright")

HEADING_CHARS = 400

# (SPDX id, phrases that must all appear in the heading), most specific first
TITLES: list[tuple[str, tuple[str, ...]]] = [
    ("AGPL-3.0", ("gnu affero general public license", "version 3")),
    ("LGPL-3.0", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", ("gnu lesser general public license", "version 2.1")),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("GPL-2.0", ("gnu general public license", "version 2")),
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("PSF-2.0", ("python software foundation license",)),
]
# (SPDX id, phrases that must all appear anywhere), most specific first
BODIES: list[tuple[str, tuple[str, ...]]] = [
    # CPython's LICENSE: its history first, then the PSF, BeOpen, CNRI and (0-clause BSD) terms
    ("Python-2.0", ("history of the software", "python software foundation license version 2")),
    ("MIT", ("permission is hereby granted, free of charge",)),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
]

DEBIAN_LICENSE_FIELD = re.compile(r"^License:\s*(\S+)", re.MULTILINE)


def detect_licence(text: str) -> str:
    """SPDX id for a licence text; Debian machine-readable copyright files name it directly."""
    if text.startswith("Format:") and (match := DEBIAN_LICENSE_FIELD.search(text)):
        return match.group(1)
    lowered = " ".join(text.lower().split())
    for signatures, scope in ((TITLES, lowered[:HEADING_CHARS]), (BODIES, lowered)):
        for spdx, phrases in signatures:
            if all(p in scope for p in phrases):
                return spdx
    return UNKNOWN
