"""Whole-or-nothing writes and one writer at a time: what concurrent runs and crashes rely on."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from cpt_core.locks import locked
from cpt_core.staging import atomic_dir, atomic_file


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_failed_write_leaves_the_target_and_no_staging(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as staging:
        (staging / "weights").write_text("one")
    with pytest.raises(RuntimeError), atomic_dir(target) as staging:
        (staging / "weights").write_text("two, half written")
        raise RuntimeError("crash mid-write")
    assert (target / "weights").read_text() == "one"
    assert _hidden(tmp_path) == []


def test_a_replaced_folder_is_never_missing_for_a_reader(tmp_path):
    """The old way (remove the target, then rename) leaves a moment with nothing there."""
    target = tmp_path / "index"
    with atomic_dir(target) as staging:
        (staging / "meta.json").write_text("0")
    missing, done = [], threading.Event()

    def read():
        while not done.is_set():
            try:
                (target / "meta.json").read_text()
            except FileNotFoundError:
                missing.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    for version in range(1, 300):
        with atomic_dir(target) as staging:
            (staging / "meta.json").write_text(str(version))
    done.set()
    reader.join()
    assert missing == [] and (target / "meta.json").read_text() == "299"
    assert _hidden(tmp_path) == []


def test_a_content_addressed_twin_keeps_the_first_published(tmp_path):
    target = tmp_path / "dataset"
    with atomic_dir(target, replace=False) as first, atomic_dir(target, replace=False) as twin:
        assert first != twin  # unique staging names: two writers never share one
        (first / "manifest.json").write_text("first")
        (twin / "manifest.json").write_text("twin")
    assert (target / "manifest.json").read_text() == "twin"  # the inner block published first
    assert _hidden(tmp_path) == []


def test_atomic_file_replaces_whole(tmp_path):
    target = tmp_path / "registry.json"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_file(target) as staging:
        staging.write_text("half")
        raise ValueError
    assert target.read_text() == "old"
    with atomic_file(target) as staging:
        staging.write_text("new")
    assert target.read_text() == "new" and _hidden(tmp_path) == []


def _add_one(counter: str, times: int) -> None:
    for _ in range(times):
        with locked(counter):
            path = Path(counter)
            value = int(path.read_text()) if path.exists() else 0
            path.write_text(str(value + 1))


def test_the_lock_serialises_read_modify_write_across_processes(tmp_path):
    counter = tmp_path / "counter"
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_add_one, args=(str(counter), 200)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert counter.read_text() == "600"


def test_a_folder_with_dangling_links_publishes_them_as_links(tmp_path):
    """Unpacked packages hold links into the rest of the system (Debian's doc links)."""
    with atomic_dir(tmp_path / "pkg") as staging:
        (staging / "doc").symlink_to("/nonexistent/elsewhere")
        (staging / "data.txt").write_text("x")
    assert (tmp_path / "pkg" / "doc").is_symlink()
    assert (tmp_path / "pkg" / "data.txt").read_text() == "x"


def test_a_copied_back_key_that_would_leave_the_folder_is_refused():
    """A remote runner's dataset is copied back by object key; a store allows `..` in keys."""
    from beam_jobs.stage import relative_key
    from cpt_core.errors import CptError

    prefix = "gs://bucket/out/"
    assert relative_key(prefix + "shards/part-0.parquet", prefix) == "shards/part-0.parquet"
    for key in ("../../root/.ssh/authorized_keys", "a/../../x", "/etc/cron.d/x"):
        with pytest.raises(CptError, match="would write outside gs://bucket/out/"):
            relative_key(prefix + key, prefix)
