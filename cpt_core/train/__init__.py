"""The trainer: loop, schedule, checkpoints and metrics."""
