"""cpt: text and code embeddings by contrastive pre-training (Neelakantan et al., 2022)."""

from cpt_core.errors import CptError

__all__ = ["CptError"]
__version__ = "0.1.0"
