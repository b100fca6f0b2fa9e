"""Code pairs: tree-sitter languages, (docstring, implementation) extraction, code filters."""
