"""Pair shards: the one schema, the manifest, streaming readers and batching."""
