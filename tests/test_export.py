"""`cpt export --to sentence-transformers`: plain sentence-transformers loads the folder (no
custom code) and embeds exactly as cpt does, on each side, for every offline tokenizer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from cpt_core.export.sentence_transformers import export_sentence_transformers
from cpt_core.model.embedder import Embedder
from tests.conftest import numbered_pairs, write_pairs

TEXTS = [
    "How do lighthouses warn ships at night?",
    "It ends in a bracket.]",  # BPE would merge '.]' into one token
    "and in a brace.}",
    "",
    "   ",
    "one two three four five six seven eight nine ten " * 12,  # cut to fit
    "ünïcödé — 日本語のテキスト",
    "x",
]
MAX_LENGTH = 32
EVAL = Path(__file__).parent / "fixtures" / "eval"


def tiny_decoder(tokenizer_folder: Path, folder: Path) -> Path:
    """Random tiny weights under a real tokenizer: what the export does to a tokenizer is
    what is tested, so the architecture can stay small."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def assert_same_vectors(model: Path, exported: Path, max_length: int = MAX_LENGTH) -> None:
    embedder = Embedder.from_pretrained(model, max_length=max_length, dtype="float32", device="cpu")
    st = SentenceTransformer(str(exported), device="cpu")
    for side, encode in (("query", st.encode_query), ("document", st.encode_document)):
        np.testing.assert_allclose(encode(TEXTS), embedder.encode(TEXTS, side), atol=1e-5)
    np.testing.assert_allclose(st.encode(TEXTS), embedder.encode(TEXTS, "document"), atol=1e-5)


def test_the_export_embeds_as_cpt_and_needs_no_custom_code(tiny_model, tmp_path):
    out = export_sentence_transformers(str(tiny_model), tmp_path / "st", MAX_LENGTH)
    assert_same_vectors(tiny_model, out)
    modules = json.loads((out / "modules.json").read_text())
    assert all(m["type"].startswith("sentence_transformers.") for m in modules)
    weights = sorted(out.rglob("*.safetensors"))
    assert len(weights) == 2 and weights[0].stat().st_ino == weights[1].stat().st_ino  # once
    for config in out.rglob("tokenizer_config.json"):
        assert json.loads(config.read_text())["padding_side"] == "right"
    card = (out / "README.md").read_text()
    assert "library_name: sentence-transformers" in card and "encode_query" in card
    assert sorted(p.name for p in tmp_path.iterdir()) == ["st"]  # staging renamed into place


@pytest.mark.gguf_tokenizers
@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"])
def test_every_offline_tokenizer_round_trips(name, tmp_path):
    from cpt_core.pretrained.fetch import fetch

    model = tiny_decoder(fetch(name), tmp_path / "tiny")
    out = export_sentence_transformers(str(model), tmp_path / "st", MAX_LENGTH)
    assert_same_vectors(model, out)
    if name == "gemma3-270m":  # the BOS Gemma expects comes first, then the delimiter
        st = SentenceTransformer(str(out), device="cpu")
        ids = st.preprocess(["a"], task="query")["input_ids"][0].tolist()
        assert ids[0] == st.tokenizer.bos_token_id


def test_the_real_smollm2_round_trips(smollm2, tmp_path):
    out = export_sentence_transformers("smollm2-135m", tmp_path / "st", 64)
    assert_same_vectors(smollm2, out, max_length=64)


def test_a_trained_model_scores_the_same_through_plain_sentence_transformers(tiny_model, tmp_path):
    """Trained by cpt, exported, loaded in a fresh process that imports nothing of cpt's: the
    SciFact nDCG@10 from sentence-transformers' own evaluator equals cpt's."""
    from cpt_core.eval.profile import EvalData, EvalProfile, SearchProfile
    from cpt_core.eval.suite import evaluate
    from cpt_core.model.encoders import load_encoder
    from cpt_core.train.config import load_config
    from cpt_core.train.trainer import train

    config = load_config(
        None,
        **{"model.name": str(tiny_model), "model.max_length": 48, "data.batch_size": 8},
        **{"optim.max_steps": 4, "optim.warmup_steps": 1, "optim.lr": 1e-3},
    )
    model = train(
        config, str(write_pairs(tmp_path / "pairs", numbered_pairs(32))), tmp_path / "run"
    )
    out = export_sentence_transformers(str(model), tmp_path / "st")
    profile = EvalProfile(name="t", families=("search",), search=SearchProfile())
    ours = evaluate([str(model)], profile, EvalData(beir=(EVAL / "scifact",)))
    name = load_encoder(str(model)).name
    ndcg = ours["tasks"]["search/scifact"][name]["ndcg@10"]
    script = SCIFACT_THROUGH_ST.format(folder=str(out), data=str(EVAL / "scifact"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == pytest.approx(ndcg, abs=1e-3)


SCIFACT_THROUGH_ST = """
import json, sys
from pathlib import Path
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

assert not any(name.startswith("cpt_core") for name in sys.modules)
data = Path("{data}")
read = lambda name: [json.loads(line) for line in (data / name).read_text().splitlines() if line]
def joined(title, text):  # as BEIR readers commonly join them (cpt_core.data.beir.join_title)
    title, text = title.strip(), text.strip()
    return f"{{title}}. {{text}}" if title and text else title or text
corpus = {{d["_id"]: joined(d.get("title", ""), d["text"]) for d in read("corpus.jsonl")}}
queries = {{q["_id"]: q["text"] for q in read("queries.jsonl")}}
relevant = {{}}
for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
    query, doc, score = line.split("\\t")
    if int(score) > 0:
        relevant.setdefault(query, set()).add(doc)
queries = {{q: t for q, t in queries.items() if q in relevant}}
model = SentenceTransformer("{folder}", device="cpu")
scores = InformationRetrievalEvaluator(queries, corpus, relevant, ndcg_at_k=[10])(model)
print(json.dumps(100 * next(v for k, v in scores.items() if k.endswith("ndcg@10"))))
"""
