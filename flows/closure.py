"""The code a stage runs, derived from its imports rather than listed by hand.

A stage is named by its entry points: `module:function` (the function, what it calls in its
own module, and what it imports) or a whole `module`. From there every project module it
imports is followed, at any depth and including imports inside functions (the stages import
lazily), and each one's bytes are hashed with its package `__init__`s. Libraries outside the
project enter by their installed version, and so does every library they require, at any
depth (transformers brings tokenizers: a tokenizer upgrade re-tokenizes, so it retrains), so
a torch upgrade retrains but an edit to the server leaves the trained model cached. The walk
reads the source, it never imports it.

What the walk cannot see: a module named in a string (`python -m cpt_core.cli train`,
`importlib.import_module(JOBS[kind])`). A stage that runs one names it as an entry itself.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cpt_core.paths import REPO

PROJECT = ("cpt_core", "beam_jobs", "flows")


def code_digest(entries: Iterable[str], root: Path = REPO) -> str:
    """One hash over the sources and library versions reached from `entries`."""
    sources, libraries = closure(entries, root)
    digest = hashlib.sha256()
    for name, text in sorted(sources.items()):
        digest.update(f"{name}\0{len(text)}\0".encode() + text.encode())
    for version in sorted(set().union(*map(library_versions, libraries))):
        digest.update(f"{version}\0".encode())
    return digest.hexdigest()[:16]


def closure(entries: Iterable[str], root: Path = REPO) -> tuple[dict[str, str], set[str]]:
    """(name -> source text, library names): whole project modules by dotted name, and for a
    `module:function` entry the function's own source under `module:function`."""
    sources: dict[str, str] = {}
    libraries: set[str] = set()
    pending: list[str] = []
    for entry in entries:
        module, _, function = entry.partition(":")
        if function:
            for name, text, imported in _function_parts(root, module, function):
                sources[f"{module}:{name}"] = text
                pending.extend(imported)
            pending.extend(_packages(module))
        else:
            pending.append(module)
    while pending:
        module = pending.pop()
        if module in sources:
            continue
        if not _is_project(module):
            libraries.add(module.split(".")[0])
            continue
        path = _path(root, module)
        if path is None:
            raise ValueError(f"{module} is imported by a stage but has no source in {root}")
        sources[module] = path.read_text()
        pending.extend(_imports(root, module, ast.parse(sources[module])))
        pending.extend(_packages(module))
    return sources, {lib for lib in libraries if lib not in sys.stdlib_module_names}


def _function_parts(root: Path, module: str, function: str) -> list[tuple[str, str, list[str]]]:
    """The function and each module-level definition it reaches in its own module, with the
    modules they import (their module-level imports only when they use the imported name)."""
    path = _path(root, module)
    if path is None:
        raise ValueError(f"no source for {module} in {root}")
    source = path.read_text()
    tree = ast.parse(source)
    definitions = {
        target: node
        for node in tree.body
        for target in _defined_names(node)
        if not isinstance(node, ast.Import | ast.ImportFrom)
    }
    imported_as = {
        alias.asname or alias.name.split(".")[0]: _target(root, module, node, alias)
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    if function not in definitions:
        raise ValueError(f"{module} defines no {function}")
    parts, seen, todo = [], set(), [function]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = definitions[name]
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        imported = _imports(root, module, node)
        imported += [imported_as[n] for n in used if n in imported_as]
        todo.extend(n for n in used if n in definitions)
        parts.append((name, ast.get_source_segment(source, node) or "", imported))
    return parts


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _imports(root: Path, module: str, tree: ast.AST) -> list[str]:
    """Every module imported anywhere under `tree`: at the top, in functions, in branches."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.extend(_target(root, module, node, alias) for alias in node.names)
    return found


def _target(root: Path, module: str, node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    """The module an import statement brings in: `from a.b import c` is the module `a.b.c`
    when that is a module of the project, else `a.b`."""
    if isinstance(node, ast.Import):
        return alias.name
    base = node.module or ""
    if node.level:
        package = module.split(".")[: -node.level]
        base = ".".join([*package, base] if base else package)
    candidate = f"{base}.{alias.name}"
    return candidate if _is_project(candidate) and _path(root, candidate) else base


def _packages(module: str) -> list[str]:
    """The packages a module sits in: importing it runs each one's `__init__`."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT


def _path(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


_distributions = cache(metadata.packages_distributions)


@cache
def library_versions(library: str) -> frozenset[str]:
    """`name version` of the distribution providing `library` (its import name) and of every
    installed distribution it requires, at any depth (optional extras left out)."""
    names = _distributions().get(library, [library])
    found = next((n for n in names if _installed(n)), None)
    return _requirements(found) if found else frozenset({f"{library} unknown"})


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


@cache
def _requirements(name: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
    versions = {f"{canonicalize_name(name)} {metadata.version(name)}"}
    for line in metadata.requires(name) or []:
        requirement = Requirement(line)
        wanted = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
        child = canonicalize_name(requirement.name)
        if wanted and child not in seen and _installed(requirement.name):
            versions |= _requirements(requirement.name, seen | {canonicalize_name(name)})
    return frozenset(versions)
