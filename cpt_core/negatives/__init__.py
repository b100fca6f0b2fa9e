"""Hard negatives mined from a first model's own index, false negatives filtered out."""
