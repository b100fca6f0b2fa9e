"""MTEB retrieval tasks built from local BEIR folders, with no hub access.

MTEB's own retrieval tasks load their data from the Hugging Face hub. These hold a `BeirSet`
that cpt's reader already parsed (and, under a profile, sampled), so MTEB and cpt's harness
rank the same queries against the same corpus, down to the text of each document: cpt's
"title. text" is passed as the document's whole text, where MTEB would join a title with a
space. The dataset revision is a hash of that content, so a result file says what it measured.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from datasets import Dataset
from mteb.abstasks import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata

from cpt_core.data.beir import BeirSet, read_beir


class BeirRetrieval(AbsTaskRetrieval):
    """A BEIR set already in memory as an MTEB retrieval task (split `test`, nDCG@10). MTEB
    reads a task's metadata from its class, so `beir_retrieval` makes a subclass per set."""

    metadata: TaskMetadata

    def __init__(self, data: BeirSet, **kwargs: Any):
        self.data = data
        super().__init__(**kwargs)

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        qids, doc_ids = sorted(self.data.qrels), sorted(self.data.corpus)
        split = {
            "corpus": Dataset.from_dict(
                {"id": doc_ids, "text": [self.data.corpus[d] for d in doc_ids]}
            ),
            "queries": Dataset.from_dict(
                {"id": qids, "text": [self.data.queries[q] for q in qids]}
            ),
            "relevant_docs": {q: dict(self.data.qrels[q]) for q in qids},
            "top_ranked": None,
        }
        self.dataset = {"default": {"test": split}}
        self.data_loaded = True


def beir_retrieval(name: str, data: BeirSet, source: str = "") -> BeirRetrieval:
    """The task for one set; `source` (its folder) goes into the metadata."""
    metadata = task_metadata(name, data, source)
    return type(name, (BeirRetrieval,), {"metadata": metadata})(data)


def task_metadata(name: str, data: BeirSet, source: str) -> TaskMetadata:
    return TaskMetadata(
        name=name,
        description=(
            f"BEIR folder {source or name} read by cpt: {len(data.qrels)} queries with "
            f"relevance judgements, {len(data.corpus)} documents."
        ),
        dataset={"path": source or name, "revision": content_hash(data)},
        type="Retrieval",
        category="t2t",
        eval_splits=["test"],
        eval_langs=["eng-Latn"],
        main_score="ndcg_at_10",
    )


def content_hash(data: BeirSet) -> str:
    """SHA256 of the queries, documents and judgements, in a fixed order."""
    queries = sorted((q, data.queries[q]) for q in data.qrels)  # the judged ones are asked
    content = [queries, sorted(data.corpus.items()), sorted(data.qrels.items())]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def beir_task(folder: str | Path, split: str = "test", name: str | None = None) -> BeirRetrieval:
    """A whole BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) as a task."""
    folder = Path(folder)
    return beir_retrieval(name or folder.name, read_beir(folder, split), str(folder))
