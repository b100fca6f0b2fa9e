"""Named input sources a pipeline preset can list, resolved to local paths (fetched once).

- `python-stdlib[/SUBPATH]`: this interpreter's standard library (`python-stdlib/*/`: each
  package a repository of its own, so the by-repository split has a test part).
- `debian:PACKAGE/SUBPATH`: a Debian package from the registry this machine reaches
  (`apt-get download`, unpacked with `dpkg-deb -x` into $CPT_HOME/corpora/PACKAGE, once).
- `shared:PATH`: a path or glob in the public data sets (cpt_core/paths.py: ../shared/data,
  $CPT_DATA, or where `cpt data fetch` put them).
- `warc:SOURCE`: the HTML pages of a folder (any source above, or a path) packed into one WARC
  file in $CPT_HOME/corpora/warc, once per version of the folder; the site is the Debian
  package, else the folder's name.
- anything else: a local path or glob, passed through.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from urllib.parse import quote

from cpt_core.errors import CptError
from cpt_core.paths import shared_data
from cpt_core.pretrained.cache import cache_root
from cpt_core.staging import atomic_dir
from cpt_core.text.warc_pack import fingerprint, pack_html_folder


def resolve_source(spec: str) -> str:
    if spec == "python-stdlib" or spec.startswith("python-stdlib/"):
        return sysconfig.get_paths()["stdlib"] + spec.removeprefix("python-stdlib")
    if spec.startswith("warc:"):
        return str(packed_warc(spec.removeprefix("warc:")))
    if spec.startswith("debian:"):
        package, subpath = _debian(spec)
        return str(debian_package(package) / subpath)
    if spec.startswith("shared:"):
        first, _, rest = spec.removeprefix("shared:").partition("/")
        return str(shared_data(first) / rest) if rest else str(shared_data(first))
    return spec


def _debian(spec: str) -> tuple[str, str]:
    """`debian:PACKAGE/SUBPATH` -> (PACKAGE, SUBPATH)."""
    package, _, subpath = spec.removeprefix("debian:").partition("/")
    return package, subpath


def debian_package(package: str) -> Path:
    """The unpacked tree of a Debian package; downloaded and unpacked on first use only."""
    root = cache_root() / "corpora" / package
    if (root / "usr").is_dir():
        return root
    root.mkdir(parents=True, exist_ok=True)
    print(f"[cpt] downloading Debian package {package} (once)", file=sys.stderr, flush=True)
    done = subprocess.run(
        ["apt-get", "download", package], cwd=root, capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["?"]
        raise CptError(f"apt-get download {package} failed: {lines[-1]}")
    debs = sorted(root.glob(f"{package}_*.deb"))
    if not debs:
        raise CptError(f"apt-get download {package} produced no .deb")
    with atomic_dir(root / "usr", replace=False) as staging:  # its rename marks it complete
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(staging)], check=True)
        for entry in (staging / "usr").iterdir():  # the package's usr/ becomes root/usr
            entry.rename(staging / entry.name)
        (staging / "usr").rmdir()
    debs[-1].unlink(missing_ok=True)
    return root


def packed_warc(spec: str) -> Path:
    """The HTML pages under a source's folder as one WARC file, packed on first use (and again
    when the folder changes). Pages are https://SITE.invalid/PATH: the site is the Debian
    package, else the folder's name, and PATH is the page's path in the package (else in the
    folder), so two manuals of one package never share a URL."""
    folder = Path(resolve_source(spec))
    if not folder.is_dir():
        raise CptError(f"warc:{spec}: {folder} is not a folder of HTML pages")
    if spec.startswith("debian:"):
        package, subpath = _debian(spec)
        base_url = f"https://{package}.invalid/" + quote(f"{subpath.strip('/')}/".lstrip("/"))
    else:
        base_url = f"https://{folder.name}.invalid/"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.removeprefix("debian:")).strip("_.")[:80]
    out = cache_root() / "corpora" / "warc" / f"{name}-{fingerprint(folder, base_url)[:16]}.warc.gz"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        print(f"[cpt] packing {folder} into {out.name}", file=sys.stderr, flush=True)
        _, outside = pack_html_folder(folder, out, base_url)
        if outside:
            print(
                f"[cpt] {len(outside)} links to pages outside {folder} left out, e.g. {outside[0]}",
                file=sys.stderr,
            )
    return out
