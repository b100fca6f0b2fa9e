"""The table a mining run ends with: every count in its manifest, so nothing goes unreported."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cpt_core.data.manifest import Manifest


def summary_table(manifest: Manifest, where: str) -> Table:
    table = Table(title=f"{manifest.kind} pairs -> {where}", title_justify="left")
    table.add_column("group")
    table.add_column("name")
    table.add_column("count", justify="right")
    for group, value in sorted(manifest.counts.items(), key=lambda kv: _rank(kv[0])):
        if group == "balance":
            value = _balance_rows(value)
        if isinstance(value, dict):
            for i, (name, n) in enumerate(value.items()):
                table.add_row(group if i == 0 else "", name, f"{n:,}")
        else:
            table.add_row(group, "", f"{value:,}")
    for label, entries in (
        ("shards", manifest.shards),
        ("dead letter files", manifest.dead_letters),
    ):
        size = sum(e.bytes for e in entries)
        table.add_row(
            label, f"{len(entries)} files, {size / 1e6:.1f} MB", f"{sum(e.rows for e in entries):,}"
        )
    return table


def _balance_rows(balance: dict) -> dict[str, int]:
    """The units read, then where each went; a difference (a loss) is shown, never hidden."""
    outcomes = balance["outcomes"]
    rows = {f"{balance['unit']}s read": balance["inputs"]}
    rows |= {f"-> {name}": n for name, n in outcomes.items()}
    if missing := balance["inputs"] - sum(outcomes.values()):
        rows["UNACCOUNTED"] = missing
    return rows


ORDER = (
    "rows", "balance", "files", "filtered", "duplicates", "dead_letters", "by_split", "by_language",
)  # fmt: skip


def _rank(group: str) -> tuple[int, str]:
    """Inputs, then what was set aside and why, then what was written."""
    return (ORDER.index(group) if group in ORDER else len(ORDER), group)


def print_summary(manifest: Manifest, where: str) -> None:
    Console().print(summary_table(manifest, where))
