"""One exception type for everything a user can cause and fix.

The CLI prints a CptError as a single line (no stack trace); its message names what was wrong
and, where there is one, the fix. Bugs stay ordinary exceptions with full tracebacks.
"""


class CptError(Exception):
    """A user-facing failure: bad input, missing model, wrong schema, bad configuration."""
