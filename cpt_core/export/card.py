"""The model card (README.md, the hub's convention) an export carries: what the model is, how
it was made and measured, and how to call it from sentence-transformers, cpt and the server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cpt_core.eval.report import family_tables
from cpt_core.model.embedder import Embedder
from cpt_core.paths import repo_path
from cpt_core.pipeline.registry import REGISTRY_NAME, Registry
from cpt_core.pretrained.reference import resolve


def model_card(reference: str, embedder: Embedder, name: str) -> str:
    meta = embedder.meta
    delimiters = meta.delimiters
    header = {
        "library_name": "sentence-transformers",
        "pipeline_tag": "sentence-similarity",
        "tags": ["sentence-transformers", "feature-extraction", "cpt", "contrastive-pretraining"],
        "base_model": meta.base_model,
    }
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).strip(),
        "---",
        "",
        f"# {name}",
        "",
        f"A text embedding model made with cpt (contrastive pre-training, as in Neelakantan et "
        f"al., 2022, *Text and Code Embeddings by Contrastive Pre-Training*) from "
        f"`{meta.base_model}`, {meta.steps} training steps. A text is embedded as the last "
        "layer's hidden state at its closing delimiter: queries inside "
        f"`{delimiters.query[0]}` ... `{delimiters.query[1]}`, documents inside "
        f"`{delimiters.document[0]}` ... `{delimiters.document[1]}`, at most "
        f"{embedder.encoder.tokenizer.max_length} tokens (the content is cut, never the "
        f"delimiter), {embedder.dim} dimensions, normalised to unit length.",
        *_usage(name),
        *_widths(name, meta.matryoshka_dims),
        *_training(meta),
        *_evaluation(reference),
    ]
    return "\n".join(lines) + "\n"


def _widths(name: str, dims: list[int]) -> list[str]:
    """How to ask for a smaller width, when the model was trained for some."""
    if not dims:
        return []
    smallest = min(dims)
    return [
        "",
        "## Smaller embeddings",
        "",
        f"Trained as a Matryoshka model: the first {', '.join(map(str, dims))} coordinates "
        "(renormalised) are embeddings of their own. In sentence-transformers:",
        "",
        "```python",
        f'model = SentenceTransformer("{name}", truncate_dim={smallest})',
        "```",
        "",
        f'From the server, `"dimensions": {smallest}` in an embeddings request; an index at that '
        f"width: `cpt index build ... --dim {smallest}`.",
    ]


def _usage(name: str) -> list[str]:
    return [
        "",
        "## Usage",
        "",
        "sentence-transformers (no custom code; the delimiters are in each side's tokenizer):",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "",
        f'model = SentenceTransformer("{name}")',
        'queries = model.encode_query(["how do lighthouses warn ships?"])',
        'documents = model.encode_document(["Lighthouses mark dangerous coasts at night."])',
        "print(model.similarity(queries, documents))",
        "```",
        "",
        "`model.encode(...)` without a task embeds documents. cpt, on the folder the export came "
        "from:",
        "",
        "```python",
        "from cpt_core.model.embedder import Embedder",
        "",
        'embedder = Embedder.from_pretrained("MODEL_FOLDER")',
        'vectors = embedder.encode(["how do lighthouses warn ships?"], side="query")',
        "```",
        "",
        "The server (OpenAI-compatible; `input_type` or the `:query` alias picks the side):",
        "",
        "```bash",
        "cpt serve MODEL_FOLDER --name cpt &",
        "curl -s 127.0.0.1:8000/v1/embeddings -H 'content-type: application/json' \\",
        '  -d \'{"model": "cpt:query", "input": ["how do lighthouses warn ships?"]}\'',
        "```",
    ]


def _training(meta) -> list[str]:
    lines = ["", "## Training", ""]
    if meta.logit_scale:
        lines.append(f"Learned temperature: exp(tau) = {meta.logit_scale:.2f}.")
    if meta.data_manifests:
        lines += ["", "| dataset | identity | pairs |", "|---|---|---|"]
        lines += [
            f"| `{m.get('path', '?')}` | `{m.get('identity', '?')}` | {m.get('rows', '?'):,} |"
            for m in meta.data_manifests
        ]
    if meta.train_config:
        config = yaml.safe_dump(meta.train_config, sort_keys=False).strip()
        lines += ["", "Training configuration:", "", "```yaml", config, "```"]
    if len(lines) == 3:
        lines.append("Not trained by cpt: the base model with cpt's default delimiters.")
    return lines


def _evaluation(reference: str) -> list[str]:
    """The tables of the last report that evaluated this model, found through the registry of
    the run it came from (runs/NAME/train/KEY/model)."""
    results = _last_results(Path(resolve(reference)).resolve())
    if results is None:
        return ["", "## Evaluation", "", "No cpt evaluation report was found for this model."]
    lines = ["", "## Evaluation", "", "Headline metric x100, from cpt's last report."]
    return lines + family_tables(results)


def _last_results(model: Path) -> dict | None:
    run = next((r for r in model.parents if (r / REGISTRY_NAME).is_file()), None)
    if run is None:
        return None
    for entry in reversed(Registry.read(run).history):
        record = entry.candidate
        if record.report and repo_path(record.model).resolve() == model:
            results = repo_path(record.report).parent / "results.json"  # beside report.md
            return json.loads(results.read_text()) if results.is_file() else None
    return None
