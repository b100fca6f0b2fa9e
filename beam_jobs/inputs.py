"""Expand a job's inputs: paths, globs, and list files (one path per line, `.gz` allowed).

Common Crawl publishes `warc.paths.gz`; a list of repositories is the same idea. Everything is
read through Beam's FileSystems, so `gs://` and `s3://` paths work wherever Beam's do.
"""

from __future__ import annotations

import glob
import os

from apache_beam.io.filesystems import FileSystems

from cpt_core.errors import CptError

GLOB_CHARS = set("*?[")


def expand_inputs(paths: list[str], lists: list[str] = ()) -> list[str]:
    """Every input location, globs expanded and sorted; an empty result, or one where no local
    path exists, is an error."""
    wanted = list(paths)
    for listing in lists:
        wanted += read_list(listing)
    locations: list[str] = []
    for path in wanted:
        if GLOB_CHARS.intersection(path):
            matched = _match(path)
            if not matched:
                raise CptError(f"input pattern '{path}' matches nothing")
            locations += matched
        else:
            locations.append(path)
    if not locations:
        raise CptError("no inputs: give --input PATH (repeatable) or --input-list FILE")
    missing = [path for path in locations if is_local(path) and not os.path.exists(path)]
    if len(missing) == len(locations):  # some missing among others become dead letters
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise CptError(f"no input exists: {shown}")
    return locations


def read_list(listing: str) -> list[str]:
    """Non-empty, non-comment lines of a list file; a missing list is an error, not empty."""
    try:
        with FileSystems.open(listing) as handle:  # AUTO compression: .gz lists decompress
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CptError(f"cannot read input list {listing}: {exc}".splitlines()[0]) from exc
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


def absolute(path: str) -> str:
    """A relative local path resolved here, on the client: a worker would resolve it in its
    own working directory, which on any cluster runner is not this one. Absolute paths and
    URLs are returned as given."""
    if FileSystems.get_scheme(path) is not None or os.path.isabs(path):
        return path
    resolved = os.path.normpath(os.path.join(os.getcwd(), path))
    return resolved + "/" if path.endswith("/") else resolved


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def _match(pattern: str) -> list[str]:
    if is_local(pattern):  # local globs also match folders (repositories), Beam's only files
        return sorted(glob.glob(pattern))
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
