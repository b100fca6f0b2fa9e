"""Export: a cpt model as a folder other tools load as they are (sentence-transformers)."""
