"""torch.distributed helpers: the process group, gathering with gradient, bucketed all-reduce."""
