"""Which files of a local folder are its HTML pages: the one walk that both the text miner's
folder reader and the WARC packer make, so both see the same pages and refuse the same links."""

from __future__ import annotations

from pathlib import Path

HTML_SUFFIXES = (".html", ".htm")


def html_files(root: Path) -> tuple[list[Path], list[Path]]:
    """The .html/.htm files under `root` in path order, and apart, the links among them that
    lead outside `root` (an unpacked package's absolute links point into this machine)."""
    inside, outside = [], []
    top = root.resolve()
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in HTML_SUFFIXES and path.is_file():
            (inside if path.resolve().is_relative_to(top) else outside).append(path)
    return inside, outside
