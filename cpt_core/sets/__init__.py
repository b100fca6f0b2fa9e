"""The public data sets the main job reads (crawl samples, SciFact, CoSQA, SentEval, STS):
where each comes from, pinned by commit and sha256, and `cpt data fetch` to download them."""
