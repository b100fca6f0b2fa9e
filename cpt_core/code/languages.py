"""The languages cpt mines, as data: grammar, file extensions, and which nodes are functions.

Everything language-specific that the extractor needs lives in one `LanguageSpec` each, so
adding a language is adding an entry, not a branch in the extractor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

import tree_sitter_go
import tree_sitter_java
import tree_sitter_javascript
import tree_sitter_php
import tree_sitter_python
import tree_sitter_ruby
from tree_sitter import Language, Parser, Query

DocStyle = Literal["docstring", "line", "block"]


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    extensions: tuple[str, ...]
    grammar: Callable[[], object]
    functions: frozenset[str]  # node types that are functions or methods
    doc: DocStyle  # Python's docstring, a block of line comments, or one /** */ block
    comment_prefix: str  # what a doc comment must start with
    constructors: frozenset[str]  # names that are constructors in this language
    containers: frozenset[str]  # nodes whose functions are methods
    wrappers: frozenset[str] = frozenset()  # parents a doc comment may sit above instead


LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            "python",
            (".py",),
            tree_sitter_python.language,
            frozenset({"function_definition"}),
            "docstring",
            "",
            frozenset({"__init__", "__new__"}),
            frozenset({"class_definition"}),
            frozenset({"decorated_definition"}),
        ),
        LanguageSpec(
            "go",
            (".go",),
            tree_sitter_go.language,
            frozenset({"function_declaration", "method_declaration"}),
            "line",
            "//",
            frozenset(),
            frozenset({"method_declaration"}),  # a Go method is its own declaration
        ),
        LanguageSpec(
            "javascript",
            (".js", ".mjs", ".cjs", ".jsx"),
            tree_sitter_javascript.language,
            frozenset(
                {
                    "function_declaration",
                    "generator_function_declaration",
                    "method_definition",
                    "function_expression",
                    "arrow_function",
                }
            ),
            "block",
            "/**",
            frozenset({"constructor"}),
            frozenset({"class_body"}),
            frozenset(
                {
                    "export_statement",
                    "variable_declarator",
                    "lexical_declaration",
                    "variable_declaration",
                    "assignment_expression",
                    "expression_statement",
                    "pair",
                }
            ),
        ),
        LanguageSpec(
            "java",
            (".java",),
            tree_sitter_java.language,
            frozenset({"method_declaration", "constructor_declaration"}),
            "block",
            "/**",
            frozenset(),
            frozenset({"class_body", "interface_body", "enum_body"}),
        ),
        LanguageSpec(
            "ruby",
            (".rb",),
            tree_sitter_ruby.language,
            frozenset({"method", "singleton_method"}),
            "line",
            "#",
            frozenset({"initialize"}),
            frozenset({"class", "module", "singleton_class"}),
        ),
        LanguageSpec(
            "php",
            (".php",),
            tree_sitter_php.language_php,
            frozenset({"function_definition", "method_declaration"}),
            "block",
            "/**",
            frozenset({"__construct"}),
            frozenset({"declaration_list"}),
        ),
    )
}

COMMENT_TYPES = frozenset({"comment", "line_comment", "block_comment"})


def language_for(path: str) -> LanguageSpec | None:
    lowered = path.lower()
    for spec in LANGUAGES.values():
        if lowered.endswith(spec.extensions):
            return spec
    return None


@cache
def grammar(name: str) -> Language:
    return Language(LANGUAGES[name].grammar())


@cache
def parser_for(name: str) -> Parser:
    return Parser(grammar(name))


@cache
def outline_query(name: str) -> Query:
    """One query capturing every function (@function) and comment (@comment) of a language."""
    language = grammar(name)
    functions = " ".join(f"({kind})" for kind in sorted(LANGUAGES[name].functions))
    kinds = sorted(k for k in COMMENT_TYPES if language.id_for_node_kind(k, True))
    comments = " ".join(f"({kind})" for kind in kinds)
    return Query(language, f"[{functions}] @function [{comments}] @comment")
