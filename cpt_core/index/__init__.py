"""FAISS indexes over a corpus embedded by a cpt model: build, search, and refuse a mismatch."""
