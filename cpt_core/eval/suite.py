"""Run the evaluation suite for several models side by side and collect results.json.

Every set is loaded (and sampled) once, before any model runs, so a missing or malformed file
fails in seconds rather than after an hour of embedding. BM25 takes part in the search tasks
only; every other model is a dense encoder behind the embedding cache.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from cpt_core.data.beir import BeirSet, read_beir
from cpt_core.data.decontaminated import removed_by_set
from cpt_core.errors import CptError
from cpt_core.eval.classify import (
    SST2_LABEL_PROMPTS,
    SST2_LABEL_TEXTS,
    knn_accuracy,
    zero_shot_accuracy,
)
from cpt_core.eval.code_sets import code_set_name, read_code_pairs, read_cosqa
from cpt_core.eval.embedding_cache import CachedEncoder
from cpt_core.eval.probe import probe_accuracy
from cpt_core.eval.profile import BM25, CodeProfile, EvalData, EvalProfile
from cpt_core.eval.retrievers import BM25Retriever, DenseRetriever, Retriever
from cpt_core.eval.search import codesearchnet, csn_groups, evaluate_search, sample_search
from cpt_core.eval.semeval_sts import StsYear, read_sts, year_spearman
from cpt_core.eval.senteval import ProbeTask, cap_per_class, capped, load_task
from cpt_core.eval.sizing import size_to_budget
from cpt_core.eval.sts import StsSet, cosines, read_sick, read_stsb, spearman
from cpt_core.model.encoders import TextEncoder, load_encoder
from cpt_core.model.folder import CptMeta, read_meta
from cpt_core.model.names import clashing, model_name, with_identity
from cpt_core.pretrained.reference import resolve

log = logging.getLogger(__name__)

HEADLINE = {
    "probe": "accuracy",
    "sts": "spearman",
    "search": "ndcg@10",
    "code": "mrr",
    "zeroshot": "accuracy",
    "knn": "accuracy",
}


@dataclass
class Sets:
    """Everything the profile asks for, loaded and sampled once for all models."""

    probe: list[ProbeTask] = field(default_factory=list)
    sts: list[StsSet | StsYear] = field(default_factory=list)
    search: dict[str, BeirSet] = field(default_factory=dict)
    cosqa: BeirSet | None = None
    code_pairs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    sst2: ProbeTask | None = None

    def texts(self, code: CodeProfile, seed: int) -> tuple[list[str], list[str]]:
        """Every text a dense model embeds for these sets: those the profile's caps shrink,
        and the code-search candidates, which stay (eval/sizing.py weighs the two)."""
        shrinking = [text for task in self.probe for text in task.texts()]
        for pairs in self.sts:
            for part in pairs.files if isinstance(pairs, StsYear) else [pairs]:
                shrinking += [*part.first, *part.second]
        for data in [*self.search.values(), *([self.cosqa] if self.cosqa else [])]:
            shrinking += [*data.queries.values(), *data.corpus.values()]
        fixed = []
        for pairs in self.code_pairs.values():
            for group in csn_groups(len(pairs), code.candidates, code.max_groups, seed):
                chosen = [pairs[i] for i in group]
                shrinking += [query for query, _ in chosen[: code.queries_per_group]]
                fixed += [function for _, function in chosen]
        if self.sst2:
            shrinking += [*self.sst2.train.inputs, *self.sst2.test.inputs]
        return list(dict.fromkeys(shrinking)), list(dict.fromkeys(fixed))


def with_baselines(references: list[str]) -> list[str]:
    """The models, then BM25, all-MiniLM-L6-v2 and each model's untrained initial decoder."""
    initial = []
    for reference in references:
        meta = _meta(reference)
        initial.append(meta.base_model if meta else reference)
    chosen = [*references, BM25, "all-minilm-l6-v2", *(initial or ["smollm2-135m"])]
    return list(dict.fromkeys(chosen))


def load_sets(profile: EvalProfile, data: EvalData) -> Sets:
    sets, seed, wanted = Sets(), profile.seed, set(profile.families)
    data = data.located(profile.families)
    if "probe" in wanted:
        root = data.senteval
        sets.probe = [
            capped(load_task(root, name), profile.probe.per_class, seed)
            for name in profile.probe.tasks
        ]
    if "sts" in wanted:
        read = [read_stsb(data.stsb)] if data.stsb else []
        read += [read_sick(data.sick)] if data.sick else []
        read += [read_sts(path) for path in data.sts]
        names = [s.name for s in read]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise CptError(f"two STS sets are named {', '.join(twice)}: pass each set once")
        sets.sts = [s.sample(profile.sts.pairs, seed) for s in read]
    if "search" in wanted:
        for folder in data.beir:
            full = read_beir(folder, "test")
            search = profile.search
            sets.search[Path(folder).name] = sample_search(
                full, search.queries, search.documents, seed
            )
    if "code" in wanted:
        code = profile.code
        cosqa = read_cosqa(data.cosqa)
        sets.cosqa = sample_search(cosqa, code.cosqa_queries, code.cosqa_documents, seed)
        for spec in data.code_pairs:
            for language, pairs in read_code_pairs(spec).items():
                name = code_set_name(spec, language)
                if name in sets.code_pairs:  # two mined sets: their folders tell them apart
                    name = f"{name} ({Path(spec).name})"
                sets.code_pairs[name] = pairs
    if wanted & {"zeroshot", "knn"}:
        sst2 = load_task(data.senteval, "SST2")
        knn = profile.knn
        sets.sst2 = ProbeTask(
            "SST2",
            cap_per_class(sst2.train, knn.train_per_class, seed),
            test=cap_per_class(sst2.test, knn.test_per_class, seed),
        )
    return sets


def evaluate(
    references: list[str], profile: EvalProfile, data: EvalData, cache: Path | None = None
) -> dict:
    """results.json's content: per task, per model (by the name a person calls it, see
    cpt_core.model.names; its reference beside), the metrics; plus sizes, timings, cache."""
    sets = load_sets(profile, data)
    loaded = {}  # the first dense model, loaded early when it measures the machine
    dense = [r for r in references if r != BM25]
    sizing = {"factor": 1.0}
    if profile.model_minutes and dense:
        loaded[dense[0]] = load_encoder(dense[0], profile.max_length, profile.batch_size)
        shrinking, fixed = sets.texts(profile.code, profile.seed)
        profile, sizing = size_to_budget(profile, shrinking, fixed, loaded[dense[0]])
        if "texts_per_s" in sizing:
            log.info(
                "evaluation sized here: %.1f texts/s, %.3g of the caps (~%.1f min a model)",
                sizing["texts_per_s"],
                sizing["factor"],
                sizing["minutes_at_factor"],
            )
        sets = load_sets(profile, data) if sizing["factor"] < 1 else sets
    results: dict = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile.model_dump(mode="json"),
        "sizing": sizing,
        "sizes": _sizes(sets, profile),
        "headline": HEADLINE,
        "models": {},
        "tasks": {},
    }
    names = [BM25 if r == BM25 else model_name(r) for r in references]
    twice = clashing(names)
    for reference, name in zip(references, names, strict=True):
        started = time.perf_counter()
        if reference == BM25:
            info, runner = {"kind": "bm25"}, _Runner(None, BM25Retriever(), profile)
        else:
            backend = loaded.pop(reference, None) or load_encoder(
                reference, profile.max_length, profile.batch_size
            )
            encoder = CachedEncoder(backend, cache)
            runner = _Runner(encoder, DenseRetriever(encoder), profile)
            kind = type(encoder.encoder).__name__
            info = {"kind": kind, "name": name, "identity": encoder.identity}
            info |= {"trained": trained} if (trained := _training(reference)) else {}
            if name in twice:  # another model has this name too: tell them apart by weights
                name = with_identity(name, encoder.identity)
        seconds = {}
        for family in profile.families:
            clock = time.perf_counter()
            for task, metrics in getattr(runner, family)(sets).items():
                results["tasks"].setdefault(f"{family}/{task}", {})[name] = metrics
            seconds[family] = round(time.perf_counter() - clock, 1)
        if runner.encoder is not None:
            info["cache"] = {"hits": runner.encoder.hits, "misses": runner.encoder.misses}
        seconds["total"] = round(time.perf_counter() - started, 1)
        results["models"][name] = {"reference": reference, **info, "seconds": seconds}
    return results


def _meta(reference: str) -> CptMeta | None:
    """A cpt model folder's cpt.json; None for anything else (a catalogue name, a hub id)."""
    location = Path(resolve(reference))
    return read_meta(location) if location.is_dir() else None


def _training(reference: str) -> dict | None:
    """What a cpt model saw in training (its cpt.json): steps, pairs and the model it started
    from, so a report says what its figures cost."""
    meta = _meta(reference)
    if meta is None or not meta.steps:
        return None
    batch = (meta.train_config or {}).get("data", {}).get("batch_size")
    pairs = meta.steps * batch if batch else None
    trained = {"steps": meta.steps, "pairs": pairs, "start": meta.base_model}
    decontaminated = removed_by_set(m["path"] for m in meta.data_manifests if m.get("path"))
    return trained | ({"decontamination": decontaminated} if decontaminated else {})


class _Runner:
    """One model's pass over each task family; a family it cannot do returns nothing."""

    def __init__(self, encoder: TextEncoder | None, retriever: Retriever, profile: EvalProfile):
        self.encoder, self.retriever, self.profile = encoder, retriever, profile
        self.side = profile.sentence_side

    def _vectors(self, texts: list[str]) -> dict[str, np.ndarray]:
        unique = sorted(set(texts))
        return dict(zip(unique, self.encoder.encode(unique, self.side), strict=True))

    def probe(self, sets: Sets) -> dict:
        if self.encoder is None or not sets.probe:
            return {}
        out = {
            task.name: {
                "accuracy": probe_accuracy(
                    task, self._vectors(task.texts()), self.profile.probe.folds
                )
            }
            for task in sets.probe
        }
        out["average"] = {"accuracy": float(np.mean([m["accuracy"] for m in out.values()]))}
        return out

    def sts(self, sets: Sets) -> dict:
        if self.encoder is None:
            return {}
        encode = self.encoder.encode  # the cache embeds a text shared by both sides once
        out = {}
        for pairs in sets.sts:
            if isinstance(pairs, StsYear):
                scored = [
                    cosines(encode(f.first, self.side), encode(f.second, self.side))
                    for f in pairs.files
                ]
                out |= year_spearman(pairs, scored)
                continue
            first, second = encode(pairs.first, self.side), encode(pairs.second, self.side)
            out[pairs.name] = {"spearman": spearman(first, second, pairs.gold)}
        return out

    def search(self, sets: Sets) -> dict:
        return {name: evaluate_search(self.retriever, data) for name, data in sets.search.items()}

    def code(self, sets: Sets) -> dict:
        out = {"cosqa": evaluate_search(self.retriever, sets.cosqa)} if sets.cosqa else {}
        code, seed = self.profile.code, self.profile.seed
        for name, pairs in sets.code_pairs.items():
            out[f"csn/{name}"] = codesearchnet(
                self.retriever,
                pairs,
                code.candidates,
                code.max_groups,
                seed,
                code.queries_per_group,
            )
        return out

    def zeroshot(self, sets: Sets) -> dict:
        if self.encoder is None or sets.sst2 is None:
            return {}
        test = sets.sst2.test
        inputs = self.encoder.encode(test.inputs, "document")
        out = {}
        for name, labels in (
            ("sst2-labels", SST2_LABEL_TEXTS),
            ("sst2-prompts", SST2_LABEL_PROMPTS),
        ):
            label_vectors = self.encoder.encode(list(labels), "query")
            out[name] = {"accuracy": zero_shot_accuracy(inputs, test.labels, label_vectors)}
        return out

    def knn(self, sets: Sets) -> dict:
        if self.encoder is None or sets.sst2 is None:
            return {}
        train, test = sets.sst2.train, sets.sst2.test
        k = self.profile.knn.k
        accuracy = knn_accuracy(
            self.encoder.encode(train.inputs, self.side),
            train.labels,
            self.encoder.encode(test.inputs, self.side),
            test.labels,
            k,
        )
        return {"sst2": {"accuracy": accuracy, "k": min(k, len(train))}}


def _sizes(sets: Sets, profile: EvalProfile) -> dict:
    """What each figure was measured on (after the profile's sampling)."""
    sizes: dict = {}
    for task in sets.probe:
        parts = {k: len(getattr(task, k)) for k in ("train", "dev", "test") if getattr(task, k)}
        sizes[f"probe/{task.name}"] = parts if task.test else {"cross_validated": len(task.train)}
    for pairs in sets.sts:
        if isinstance(pairs, StsYear):
            sizes |= {f"sts/{task}": size for task, size in pairs.sizes().items()}
        else:
            sizes[f"sts/{pairs.name}"] = {"pairs": len(pairs.gold)}
    for name, data in sets.search.items():
        sizes[f"search/{name}"] = {"queries": len(data.qrels), "documents": len(data.corpus)}
    if sets.cosqa:
        sizes["code/cosqa"] = {
            "queries": len(sets.cosqa.qrels),
            "documents": len(sets.cosqa.corpus),
        }
    code = profile.code
    for name, pairs in sets.code_pairs.items():
        groups = csn_groups(len(pairs), code.candidates, code.max_groups, profile.seed)
        asked = sum(len(group[: code.queries_per_group]) for group in groups)
        candidates = len(groups[0]) if groups else 0
        sizes[f"code/csn/{name}"] = {
            "test_pairs": len(pairs),
            "queries": asked,
            "candidates": candidates,
        }
    if sets.sst2:
        sizes["knn/sst2"] = {"train": len(sets.sst2.train), "test": len(sets.sst2.test)}
    return sizes
