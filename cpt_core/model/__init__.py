"""The encoder: delimiters, last-token pooling, saving and the user-facing Embedder."""
