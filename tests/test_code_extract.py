"""Exact (name, summary, docstring, code) per language on real-world-shaped fixtures."""

from pathlib import Path

import pytest

from cpt_core.code.extract import extract
from cpt_core.code.languages import LANGUAGES, language_for

FIXTURES = Path(__file__).parent / "fixtures" / "code"

# (file, name, summary, code, is_method, is_constructor)
EXPECTED = {
    "sample.py": [
        (
            "add",
            "Return the sum of two numbers.",
            "def add(a, b):\n    total = a + b\n    return total",
            False,
            False,
        ),
        (
            "fetch",
            "Fetch a URL asynchronously and return its body.",
            "@functools.lru_cache(maxsize=None)\nasync def fetch(url):\n"
            "    async with session.get(url) as response:\n        return await response.text()",
            False,
            False,
        ),
        (
            "method",
            "Store the value on the inner object.",
            "def method(self, value):\n    self.value = value\n    return self",
            True,
            False,
        ),
    ],
    "sample.go": [
        (
            "Add",
            "Add returns the sum of a and b. It never overflows silently.",
            "func Add(a, b int) int {\n\tsum := a + b\n\treturn sum\n}",
            False,
            False,
        ),
        (
            "Len",
            "Len reports the number of items in the stack.",
            "func (s *Stack) Len() int {\n\tn := len(s.items)\n\treturn n\n}",
            True,
            False,
        ),
    ],
    "sample.js": [
        (
            "add",
            "Add two numbers together.",
            "function add(a, b) {\n  const sum = a + b;\n  return sum;\n}",
            False,
            False,
        ),
        (
            "multiply",
            "Multiply two numbers and round the result.",
            "const multiply = (a, b) => {\n  const product = a * b;\n  return Math.round(product);\n};",
            False,
            False,
        ),
        (
            "readConfig",
            "Reads the configuration file from disk.",
            "module.exports.readConfig = function (path) {\n  const text = fs.readFileSync(path, 'utf8');\n"
            "  return JSON.parse(text);\n};",
            False,
            False,
        ),
        (
            "push",
            "Push an item onto the stack.",
            "push(item) {\n  this.items.push(item);\n  return this;\n}",
            True,
            False,
        ),
    ],
    "Sample.java": [
        (
            "max",
            "Returns the larger of two values.",
            "@Override\npublic int max(int a, int b) {\n    int larger = a > b ? a : b;\n    return larger;\n}",
            True,
            False,
        ),
        (
            "Sample",
            "Creates an empty sample.",
            "public Sample() {\n    this.items = new ArrayList<>();\n    this.count = 0;\n}",
            True,
            True,
        ),
    ],
    "sample.rb": [
        (
            "greet",
            "Greets a person by name, politely. Returns the greeting string.",
            'def greet(name)\n  message = "Hello, #{name}"\n  puts message\n  message\nend',
            True,
            False,
        ),
        (
            "build",
            "Builds a greeter with default settings for the current locale.",
            "def self.build(locale)\n  greeter = new\n  greeter.locale = locale\n  greeter\nend",
            True,
            False,
        ),
    ],
    "sample.php": [
        (
            "format_price",
            "Formats a price with two decimals and a currency sign.",
            "function format_price($amount) {\n    $rounded = round($amount, 2);\n"
            "    return '$' . number_format($rounded, 2);\n}",
            False,
            False,
        ),
        (
            "add",
            "Adds an item to the cart and returns the new total.",
            "public function add($item) {\n    $this->items[] = $item;\n    return $this->total();\n}",
            True,
            False,
        ),
    ],
}


@pytest.mark.parametrize("filename", sorted(EXPECTED))
def test_fixture_extracts_exactly(filename):
    spec = language_for(filename)
    result = extract((FIXTURES / filename).read_bytes(), spec.name)
    got = [(f.name, f.summary, f.code, f.is_method, f.is_constructor) for f in result.functions]
    assert got == EXPECTED[filename]
    assert result.error_nodes == 0 and result.broken == 0
    assert all(f.language == spec.name for f in result.functions)


def test_whole_docstrings_and_comment_rules():
    py = extract((FIXTURES / "sample.py").read_bytes(), "python")
    assert (
        py.functions[0].docstring
        == "Return the sum of two numbers.\n\nWorks for ints and floats alike."
    )
    assert py.undocumented == 1  # `undocumented`
    assert (py.functions[0].start_line, py.functions[0].end_line) == (4, 10)
    java = extract((FIXTURES / "Sample.java").read_bytes(), "java").functions[0]
    assert (
        java.docstring
        == "Returns the larger of two values.\n\n@param a the first value\n@return the larger value"
    )
    go = extract((FIXTURES / "sample.go").read_bytes(), "go")
    assert go.undocumented == 1  # a blank line cuts `NoDoc` off from the comment above it


def test_syntax_errors_keep_what_parses():
    source = b'def good(x):\n    """Doubles x for the caller."""\n    y = x * 2\n    return y\n\n\ndef bad(:\n    """Broken."""\n    return )\n'
    result = extract(source, "python")
    assert [f.name for f in result.functions] == ["good"]
    assert result.error_nodes > 0


def test_trailing_code_comment_is_not_documentation():
    source = b"x := 1 // counter\nfunc F() int {\n\ty := 2\n\treturn y\n}\n"
    assert extract(b"package p\n" + source, "go").undocumented == 1


def test_every_language_has_an_extension_and_a_parser():
    for spec in LANGUAGES.values():
        assert language_for("a" + spec.extensions[0]) is spec
    assert language_for("README.md") is None
