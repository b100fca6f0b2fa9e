"""`cpt serve`: an OpenAI-compatible embeddings and search service for cpt models.

Separate parts with one job each, after text-embeddings-inference's router: request parsing
(`requests`), a bounded queue and token-budget batcher (`batcher`), the model holder that swaps
models atomically when a retrain becomes current (`holder`), and a thin ASGI app (`app`) that
never touches tensors.
"""
