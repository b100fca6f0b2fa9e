"""torch.distributed helpers: process group set-up and gathering with gradient."""

from cpt_core.dist.group import World, gather, init_world, reduce_gradients

__all__ = ["World", "gather", "init_world", "reduce_gradients"]
