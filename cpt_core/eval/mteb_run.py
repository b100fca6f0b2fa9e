"""`cpt eval --mteb`: MTEB's retrieval evaluation of the same models on the same search sets.

The sets are the ones cpt's own search family ranks (the profile's BEIR folders, sampled the
same way), so MTEB's figures stand beside the report's, and the models embed through the same
embedding cache, so a run after cpt's own costs only MTEB's ranking and metrics. MTEB writes
its usual files: FOLDER/results/MODEL/REVISION/TASK.json plus model_meta.json, the revision
being the model's identity hash.
"""

from __future__ import annotations

from pathlib import Path

import mteb

from cpt_core.eval.mteb_model import load_model
from cpt_core.eval.mteb_tasks import beir_retrieval
from cpt_core.eval.profile import BM25, EvalData, EvalProfile
from cpt_core.eval.suite import load_sets


def run_mteb(
    references: list[str],
    profile: EvalProfile,
    data: EvalData,
    folder: Path,
    cache: Path | None = None,
) -> dict[str, dict[str, float]]:
    """nDCG@10 (x100) per model and set; MTEB's result files go under `folder`. BM25 is not
    an encoder, so it is left out. `cache`: the embedding cache's folder, as in `evaluate`."""
    searched = profile.model_copy(update={"families": ("search",)})
    sets = load_sets(searched, data).search
    sources = {Path(s).name: str(s) for s in data.located(("search",)).beir}
    tasks = [beir_retrieval(name, beir, sources[name]) for name, beir in sets.items()]
    results = mteb.ResultCache(folder)
    scores: dict[str, dict[str, float]] = {}
    for reference in references:
        if reference == BM25:
            continue
        model = load_model(
            reference,
            profile.sentence_side,
            profile.max_length,
            profile.batch_size,
            cached=True,
            cache=cache,
        )
        outcome = mteb.evaluate(
            model,
            tasks,
            cache=results,
            overwrite_strategy="always",  # a profile or set may have changed since a last run
            show_progress_bar=False,
            encode_kwargs={"batch_size": profile.batch_size},
        )
        name = model.mteb_model_meta.name
        scores[name] = {r.task_name: 100 * r.get_score() for r in outcome.task_results}
    return scores
