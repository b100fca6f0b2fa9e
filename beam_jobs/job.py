"""What every mining job shares around its graph: staging, running, publishing, the CLI.

A job module supplies `build(pipeline, locations, output, staging, config)` and the counts its
progress line shows; this module runs it on the chosen runner into a staging folder (deleted
if the run fails), watched while it runs (`beam_jobs/watch.py`), returns the published
manifest, prints the summary table, and parses `python -m beam_jobs.<job>` options.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from pydantic import BaseModel

from beam_jobs.dataset import discard, read_manifest, refuse_existing, staging_for
from beam_jobs.inputs import absolute, expand_inputs
from beam_jobs.options import check_known, pipeline_options
from beam_jobs.progress import Measure
from beam_jobs.watch import Watch
from cpt_core.config import load_preset
from cpt_core.data.manifest import Manifest
from cpt_core.data.summary import print_summary

Build = Callable[[beam.Pipeline, list[str], str, str, BaseModel], object]


def run_job(
    build: Build,
    measures: tuple[Measure, ...],
    locations: list[str],
    output: str,
    config: BaseModel,
    beam_args: list[str] = (),
) -> Manifest:
    """Run the job's graph; return the manifest of the dataset it wrote at `output`."""
    locations, output = [absolute(p) for p in locations], absolute(output)
    refuse_existing(output)
    options = pipeline_options(list(beam_args), inputs=len(locations))
    watch = Watch(options, measures, len(locations))
    pipeline = beam.Pipeline(runner=watch.runner(), options=options)
    staging = staging_for(output)
    FileSystems.mkdirs(staging)
    try:
        with watch.over(pipeline), pipeline:
            build(pipeline, locations, output, staging, config)
    except BaseException:
        discard(staging)
        raise
    finally:
        _release(pipeline)
    return read_manifest(output)


def _release(pipeline: beam.Pipeline) -> None:
    """Close the client a DaskRunner job leaves connected to its scheduler (Beam never does),
    so a long-lived caller (a Prefect worker, a test session) does not keep one per job."""
    client = getattr(getattr(pipeline, "result", None), "client", None)
    if client is not None:
        client.close()


def mine_with(
    run: Callable[..., Manifest],
    config_class: type[BaseModel],
    inputs: list[str],
    input_lists: list[str],
    output: str,
    config_path: str | None = None,
    overrides: dict | None = None,
    beam_args: list[str] = (),
) -> Manifest:
    """What both `cpt mine <kind>` and `python -m beam_jobs.<job>` do."""
    config = load_preset(config_class, config_path, **(overrides or {}))
    manifest = run(expand_inputs(inputs, input_lists), output, config, beam_args)
    print_summary(manifest, output)
    return manifest


def job_main(doc: str, mine: Callable[..., Manifest], argv: list[str] | None) -> Manifest:
    """`python -m beam_jobs.<job>`: the job's own options; everything else goes to Beam."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--input", action="append", default=[], help="input path (repeatable)")
    parser.add_argument(
        "--input-list", "--input_list", action="append", default=[], help="file of input paths"
    )
    parser.add_argument("--output", required=True, help="dataset folder to create")
    parser.add_argument("--config", default=None, help="YAML preset (configs/mine-*.yaml)")
    args, beam_args = parser.parse_known_args(argv)
    check_known(beam_args, own=tuple(parser._option_string_actions))
    return mine(args.input, args.input_list, args.output, args.config, beam_args=beam_args)
