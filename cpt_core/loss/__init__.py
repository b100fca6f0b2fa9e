"""Losses: the symmetric in-batch contrastive loss and the gradient cache that scales it."""
