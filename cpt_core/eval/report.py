"""The evaluation report: results.json, report.md and PNG charts, written side by side.

The Markdown holds one table per task family (rows: tasks; columns: models; the family's
headline metric), what each figure was measured on, and the time each model took. Charts: one
grouped bar chart per family, and a recall@k curve per search task.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

from cpt_core.eval.profile import FAMILIES
from cpt_core.model.names import with_identity
from cpt_core.staging import atomic_file

TITLES = {
    "probe": "Linear probe (SentEval), accuracy",
    "sts": "Sentence similarity, Spearman x100",
    "search": "Text search (BEIR), nDCG@10",
    "code": "Code search, MRR",
    "zeroshot": "SST-2 zero-shot, accuracy",
    "knn": "SST-2 k-NN, accuracy",
}


def write_report(results: dict, folder: Path) -> Path:
    """report.md and its charts, then results.json: written last (and whole, by rename), it
    marks the folder complete, so an interrupted report is redone rather than served."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Evaluation report ({results['profile']['name']} profile)",
        "",
        f"Created {results['created']}. Models: {', '.join(_models(results))}. "
        "Each table shows the family's headline metric (x100); results.json has every metric.",
    ]
    lines += _training(results) + _sizing(results)
    lines += family_tables(results, charts=folder)
    for task in _tasks(results, "search") + _tasks(results, "code"):
        curve = _recall_curve(results, task, folder)
        lines += ["", f"Recall@k, {_label(task)}:", "", f"![recall {task}]({curve.name})"]
    lines += ["", "## What each figure was measured on", "", "| task | size |", "|---|---|"]
    lines += [f"| {task} | {_size(size)} |" for task, size in results["sizes"].items()]
    lines += ["", "## Time per model (seconds)", "", *_timings(results)]
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n")
    with atomic_file(folder / "results.json") as staging:
        staging.write_text(json.dumps(results, indent=2) + "\n")
    return path


def _training(results: dict) -> list[str]:
    """A line per trained model: the steps and pairs behind its figures."""
    lines = []
    for name, info in results["models"].items():
        if trained := info.get("trained"):
            pairs = f" ({trained['pairs']:,} pairs)" if trained.get("pairs") else ""
            lines.append(
                f"- {name}: trained {trained['steps']:,} steps{pairs} from {trained['start']}"
                + _decontamination(trained.get("decontamination"))
            )
    return ["", *lines] if lines else []


def _decontamination(found: dict | None) -> str:
    """What keeping the training data apart from the eval sets removed: saying that it
    removed nothing is the point when nothing overlapped."""
    if found is None:
        return "; its data was not checked against the eval sets"
    removed = sum(found["removed"].values())
    by_set = ", ".join(f"{name} {n:,}" for name, n in found["removed"].items())
    missing = f"; not checked: {', '.join(found['unavailable'])}" if found["unavailable"] else ""
    if not removed:
        return f"; no mined pair overlapped an eval set ({', '.join(found['checked'])}){missing}"
    return f"; mined pairs removed for overlapping eval sets: {removed:,} ({by_set}){missing}"


def _models(results: dict) -> list[str]:
    """Each model by name, with its identity beside it (weights and encoding setting, as
    results.json has it), so a figure can be traced to the exact weights."""
    return [
        with_identity(info.get("name", key), info["identity"]) if "identity" in info else key
        for key, info in results["models"].items()
    ]


def family_tables(results: dict, charts: Path | None = None) -> list[str]:
    """Markdown: per task family, a heading and its table (tasks x models, headline metric);
    with `charts`, its bar chart is drawn into that folder and linked under the table."""
    models = list(results["models"])
    lines = []
    for family in FAMILIES:
        tasks = _tasks(results, family)
        if not tasks:
            continue
        lines += ["", f"## {TITLES[family]}", "", *_table(results, tasks, models)]
        if charts is not None:
            chart = _bar_chart(results, family, tasks, models, charts)
            lines += ["", f"![{family}]({chart.name})"]
    return lines


def _tasks(results: dict, family: str) -> list[str]:
    return [t for t in results["tasks"] if t.split("/")[0] == family]


def _value(results: dict, task: str, model: str) -> float | None:
    metrics = results["tasks"][task].get(model)
    return None if metrics is None else metrics[results["headline"][task.split("/")[0]]]


def _shown(results: dict, tasks: list[str], models: list[str]) -> list[str]:
    """The models with a figure for at least one of the tasks (BM25 has no probe, say)."""
    return [m for m in models if any(_value(results, t, m) is not None for t in tasks)]


def _table(results: dict, tasks: list[str], models: list[str]) -> list[str]:
    shown = _shown(results, tasks, models)
    rows = ["| task | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for task in tasks:
        values = [_value(results, task, m) for m in shown]
        best = max((v for v in values if v is not None), default=None)
        cells = [
            "n/a" if v is None else (f"**{v:.1f}**" if v == best else f"{v:.1f}") for v in values
        ]
        rows.append(f"| {_label(task)} | " + " | ".join(cells) + " |")
    return rows


def _bar_chart(results: dict, family: str, tasks: list[str], models: list[str], folder: Path):
    shown = _shown(results, tasks, models)
    width = 0.8 / max(len(shown), 1)
    fig = Figure(figsize=(max(5.0, 1.3 * len(tasks) + 2), 3.6))
    ax = fig.subplots()
    for n, model in enumerate(shown):
        heights = [_value(results, t, model) or 0.0 for t in tasks]
        positions = [i + n * width - 0.4 + width / 2 for i in range(len(tasks))]
        ax.bar(positions, heights, width, label=model)
    ax.set_xticks(range(len(tasks)), [_label(t) for t in tasks], rotation=20)
    ax.set_title(TITLES[family])
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = folder / f"{family}.png"
    fig.savefig(path, dpi=120)
    return path


def _recall_curve(results: dict, task: str, folder: Path) -> Path:
    fig = Figure(figsize=(5.0, 3.6))
    ax = fig.subplots()
    for model, metrics in results["tasks"][task].items():
        ks = sorted(int(k) for k in metrics["recall"])
        ax.plot(ks, [metrics["recall"][str(k)] for k in ks], marker="o", label=model)
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 100)
    ax.set_title(f"Recall@k, {_label(task)}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = folder / f"recall-{_slug(task)}.png"
    fig.savefig(path, dpi=120)
    return path


def _label(task: str) -> str:
    """A task as a row, tick or title shows it: without its family (the table's title says
    it) or `csn/`, results.json's mark of the CodeSearchNet protocol, kept there for scripts."""
    return task.split("/", 1)[1].removeprefix("csn/")


def _slug(task: str) -> str:
    """A file name for a task: task names are for people (`code/csn/mined Go, held-out ...`)."""
    return re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")


def _sizing(results: dict) -> list[str]:
    """How the profile was fitted to this machine, when it was (eval/sizing.py)."""
    sizing = results.get("sizing", {})
    if "texts_per_s" not in sizing:
        return []
    share = (
        "its caps as set"
        if sizing["factor"] == 1
        else f"1/{round(1 / sizing['factor'])} of its caps"
    )
    return [
        "",
        f"Sized to this machine: the first model embedded {sizing['texts_per_s']} texts/s, so "
        f"the profile's {sizing['texts']:,} texts would take {sizing['projected_minutes']} min "
        f"a model; with {share} it takes about {sizing['minutes_at_factor']} min "
        f"(model_minutes: {sizing['model_minutes']}). The sizes below are what ran.",
    ]


def _size(size: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in size.items())


def _timings(results: dict) -> list[str]:
    families = [f for f in FAMILIES if f in results["profile"]["families"]]
    rows = ["| model | " + " | ".join([*families, "total"]) + " |"]
    rows.append("|---" * (len(families) + 2) + "|")
    for model, info in results["models"].items():
        cells = [str(info["seconds"].get(f, "")) for f in [*families, "total"]]
        rows.append(f"| {model} | " + " | ".join(cells) + " |")
    return rows
