"""Evaluation: ranking metrics and exact search (the full suite grows here)."""
