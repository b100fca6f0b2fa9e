"""Deduplication shared by both miners: normalisation, exact hashes, MinHash and LSH bands."""
