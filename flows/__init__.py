"""Prefect 3 flows: thin adapters that run cpt_core.pipeline's stages with caching and retries."""
