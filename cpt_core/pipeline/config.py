"""The pipeline preset (configs/pipeline-*.yaml): inputs, and which preset each stage runs."""

from __future__ import annotations

import glob

from pydantic import Field

from cpt_core.config import Strict, load_preset
from cpt_core.errors import CptError
from cpt_core.eval.profile import EvalData, load_profile
from cpt_core.negatives.config import HardNegativesConfig
from cpt_core.paths import repo_path
from cpt_core.pipeline.beam_runner import BeamRunner
from cpt_core.pipeline.sources import resolve_source


class MineStage(Strict):
    """A miner's inputs (named sources, paths or globs; see pipeline.sources) and preset."""

    inputs: tuple[str, ...] = ()
    config: str | None = None  # configs/mine-code.yaml, configs/mine-text.yaml
    overrides: dict = Field(default_factory=dict)
    beam: BeamRunner = BeamRunner()  # local by default; Dataflow etc. (infra/README.md)


class PipelineConfig(Strict):
    name: str = "demo"
    out: str = "runs/pipeline"
    code: MineStage = MineStage()
    text: MineStage = MineStage()
    train: str = "configs/demo.yaml"  # a TrainConfig preset
    train_overrides: dict = Field(default_factory=dict)
    hard_negatives: HardNegativesConfig = HardNegativesConfig()  # a second round, when enabled
    train_devices: int | None = None  # None: $CPT_TRAIN_DEVICES, else every visible GPU
    eval_profile: str = "quick"  # quick, full, or a YAML file
    eval_overrides: dict = Field(default_factory=dict)
    eval_baselines: bool = True  # BM25, all-MiniLM-L6-v2 and the untrained initial model
    eval_data: EvalData = EvalData()  # sets other than ../shared/data
    index_documents: int | None = 2000  # documents of the combined test split to index
    index_minutes: float | None = Field(None, gt=0)  # fewer documents where the CPU is slow
    result_storage: str | None = None  # a Prefect storage block ("s3-bucket/cpt"); None: local

    def training(self, second_round: bool = False) -> dict:
        """The training preset's overrides: round 1's, or round 2's (on mined hard negatives)."""
        if second_round:
            return self.hard_negatives.round_two(self.train_overrides)
        return self.train_overrides

    def miner(self, kind: str) -> MineStage:
        """The `kind` miner's stage, its pairs kept apart from the sets this pipeline evaluates
        on (eval_data; a stage's own `decontaminate.against` override wins)."""
        stage: MineStage = getattr(self, kind)
        against = self.eval_data.model_dump(mode="json", exclude_defaults=True)
        if not against:  # the public sets: what the miner's preset checks already
            return stage
        overrides = {"decontaminate.against": against} | stage.overrides
        return stage.model_copy(update={"overrides": overrides})


def check_shared_data(config: PipelineConfig, evaluate: bool = True) -> None:
    """Fail before the first stage, not after minutes of mining, when a public set the run
    reads is missing (cpt_core/paths.py: where they are looked for): the crawl samples an
    input names, and the evaluation sets of its profile."""
    for spec in (*config.code.inputs, *config.text.inputs):
        if spec.startswith("shared:") and not glob.glob(resolve_source(spec)):
            raise CptError(f"{spec} matches nothing: `cpt data fetch` downloads the public sets")
    if evaluate:
        profile = load_profile(config.eval_profile, config.eval_overrides)
        config.eval_data.located(profile.families)


def load_pipeline(preset: str, overrides: dict | None = None) -> PipelineConfig:
    """A pipeline preset (a path, or relative to the checkout) with dotted overrides."""
    return load_preset(PipelineConfig, repo_path(preset), **(overrides or {}))
