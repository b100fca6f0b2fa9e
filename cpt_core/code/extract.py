"""Extract (documentation, implementation) pairs from one source file with tree-sitter.

The documentation is Python's docstring, or elsewhere the doc comment directly above the
definition (or above its decorator/export/declaration wrapper). Comments are matched by rows,
not by tree position: a comment block ending on the line just above the definition belongs to
it. That one rule covers every grammar's placement quirks (in Ruby, a comment before a class's
first method hangs off the class node). The code keeps the definition with its docstring cut
out, so a pair is never trivially solvable by string matching.

Files that do not parse cleanly still yield every function whose subtree is free of ERROR
nodes; the others are counted, not guessed at.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass, field

from tree_sitter import Node, QueryCursor

from cpt_core.code.languages import LANGUAGES, LanguageSpec, outline_query, parser_for


@dataclass(frozen=True)
class Function:
    name: str
    language: str
    docstring: str  # cleaned, whole
    summary: str  # its first paragraph
    code: str  # the definition without its docstring, dedented
    start_line: int  # 1-based, wrapper included
    end_line: int
    is_method: bool
    is_constructor: bool


@dataclass
class Extraction:
    functions: list[Function] = field(default_factory=list)
    undocumented: int = 0
    broken: int = 0  # functions skipped because their subtree has parse errors
    error_nodes: int = 0  # ERROR / MISSING nodes in the whole file


def extract(source: bytes, language: str) -> Extraction:
    spec = LANGUAGES[language]
    root = parser_for(language).parse(source).root_node
    # the outline query finds functions and comments in C; a Python walk over every node
    # took most of the miner's time
    captures = QueryCursor(outline_query(language)).captures(root)
    result = Extraction(error_nodes=_count_errors(root))
    by_position = sorted(captures.get("comment", []), key=lambda n: n.start_byte)
    comments: dict[int, Node] = {node.end_point.row: node for node in by_position}
    for node in sorted(captures.get("function", []), key=lambda n: n.start_byte):
        name = _name(node, spec)
        if name is None:
            continue  # anonymous callbacks are not functions a query could name
        if node.has_error:
            result.broken += 1
            continue
        function = _function(node, name, spec, source, comments)
        if function is None:
            result.undocumented += 1
        else:
            result.functions.append(function)
    return result


def _count_errors(root: Node) -> int:
    """ERROR and MISSING nodes, descending only into subtrees that hold some."""
    count, stack = 0, [root] if root.has_error else []
    while stack:
        node = stack.pop()
        count += node.is_error or node.is_missing
        stack.extend(child for child in node.children if child.has_error)
    return count


def _name(node: Node, spec: LanguageSpec) -> str | None:
    named = node.child_by_field_name("name")
    if named is not None:
        return _text(named)
    parent = node.parent
    if spec.name != "javascript" or parent is None:
        return None
    if parent.type == "variable_declarator":
        return _text(parent.child_by_field_name("name"))
    if parent.type == "assignment_expression":
        left = parent.child_by_field_name("left")
        prop = left.child_by_field_name("property") if left is not None else None
        return _text(prop or left)
    if parent.type == "pair":
        return _text(parent.child_by_field_name("key")).strip("'\"")
    return None


def _function(
    node: Node, name: str, spec: LanguageSpec, source: bytes, comments: dict[int, Node]
) -> Function | None:
    anchor = node
    while anchor.parent is not None and anchor.parent.type in spec.wrappers:
        anchor = anchor.parent
    cut: tuple[int, int] | None = None
    if spec.doc == "docstring":
        doc_node = _python_docstring(node)
        if doc_node is None:
            return None
        raw = _python_string(doc_node)
        cut = _line_span(source, doc_node.start_byte, doc_node.end_byte)
    else:
        block = _comment_block(anchor, spec, source, comments)
        if not block:
            return None
        raw = _clean_comment(block, spec)
    docstring = inspect.cleandoc(raw).strip()
    if not docstring:
        return None
    code = _code(source, anchor, cut)
    return Function(
        name=name,
        language=spec.name,
        docstring=docstring,
        summary=_summary(docstring),
        code=code,
        start_line=anchor.start_point.row + 1,
        end_line=node.end_point.row + 1,
        is_method=_is_method(node, spec),
        is_constructor=name in spec.constructors or node.type == "constructor_declaration",
    )


def _python_docstring(node: Node) -> Node | None:
    body = node.child_by_field_name("body")
    if body is None or not body.named_children:
        return None
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_children:
        string = first.named_children[0]
        if string.type == "string":
            return first
    return None


def _python_string(statement: Node) -> str:
    string = statement.named_children[0]
    parts = [c for c in string.named_children if c.type == "string_content"]
    return "".join(_text(p) for p in parts)


def _comment_block(
    anchor: Node, spec: LanguageSpec, source: bytes, comments: dict[int, Node]
) -> list[str]:
    """The comment lines directly above `anchor` (no blank line between), outermost first."""
    block: list[str] = []
    row = anchor.start_point.row
    while (comment := comments.get(row - 1)) is not None:
        text = _text(comment)
        if not text.startswith(spec.comment_prefix) or not _alone_on_line(comment, source):
            break
        block.insert(0, text)
        row = comment.start_point.row
        if spec.doc == "block":
            break  # one /** */ block is the whole doc comment
    return block


def _clean_comment(block: list[str], spec: LanguageSpec) -> str:
    if spec.doc == "block":
        body = block[0].removeprefix("/**").removesuffix("*/")
        lines = [line.strip().removeprefix("*") for line in body.splitlines()]
    else:
        lines = [line.removeprefix(spec.comment_prefix) for line in block]
    return "\n".join(line[1:] if line.startswith(" ") else line for line in lines)


def _summary(docstring: str) -> str:
    """The first paragraph, stopping at a blank line or the first @tag (Javadoc, JSDoc)."""
    kept = []
    for line in docstring.splitlines():
        if not line.strip() or line.lstrip().startswith("@"):
            break
        kept.append(line.strip())
    return " ".join(kept)


def _code(source: bytes, anchor: Node, cut: tuple[int, int] | None) -> str:
    start, end = anchor.start_byte, anchor.end_byte
    text = source[start:end]
    if cut is not None:
        text = source[start : cut[0]] + source[cut[1] : end]
    indent = " " * anchor.start_point.column
    return textwrap.dedent(indent + text.decode("utf-8", errors="replace")).rstrip()


def _line_span(source: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to whole lines when nothing else shares them."""
    line_start = source.rfind(b"\n", 0, start) + 1
    line_end = source.find(b"\n", end)
    line_end = len(source) if line_end == -1 else line_end + 1
    if source[line_start:start].strip() or source[end:line_end].strip():
        return start, end
    return line_start, line_end


def _alone_on_line(comment: Node, source: bytes) -> bool:
    line_start = source.rfind(b"\n", 0, comment.start_byte) + 1
    return not source[line_start : comment.start_byte].strip()


def _is_method(node: Node, spec: LanguageSpec) -> bool:
    """Inside a class-like container, with no other function in between."""
    current: Node | None = node
    while current is not None:
        if current.type in spec.containers:
            return True
        if current is not node and current.type in spec.functions:
            return False
        current = current.parent
    return False


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text else ""
