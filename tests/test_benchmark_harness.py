"""The benchmark machinery itself (no timings are asserted): alternation, tables, memory."""

from __future__ import annotations

import importlib

import pytest

from benchmarks.harness import alternate, markdown_table, peak_rss_mb, timing_table


def test_alternate_runs_competitors_in_turn_and_reports_ratios():
    calls = []
    competitors = {
        "slow": lambda: calls.append("slow") or 2.0,
        "fast": lambda: calls.append("fast") or (0.5, {"note": "x"}),
    }
    results = alternate(competitors, repeats=3)
    assert calls == ["slow", "fast"] * 3
    assert results["fast"].median == 0.5 and results["fast"].extra == {"note": "x"}
    table = timing_table(results, "slow", what="time", extra_columns=["note"])
    assert "| fast | 500.00 ms | 4.00x | x |" in table
    assert "1.00x (reference)" in table


def test_markdown_table_shape():
    assert markdown_table(["a", "b"], [[1, 2]]).splitlines() == ["| a | b |", "| --- | --- |", "| 1 | 2 |"]


def test_peak_memory_of_a_fresh_process_counts_what_it_allocates():
    small, _ = peak_rss_mb("x = 1\n")
    big, out = peak_rss_mb("x = bytearray(300 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\nprint('ok')\n")
    assert out.strip() == "ok"
    assert big - small > 250  # the 300 MB touched, not the parent's memory


@pytest.mark.parametrize(
    "name", ["training", "prediction", "overhead", "memory", "loading", "search_parallel", "run_all"]
)
def test_benchmark_scripts_import(name):
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(getattr(module, "run", None) or module.main)


def test_run_all_replaces_its_sections_and_keeps_the_others_below_the_mark():
    from pathlib import Path

    from benchmarks.run_all import MARK, merged_document

    doc = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
    text = doc.read_text()
    assert merged_document(text, {}) == text.rstrip("\n") + "\n"  # nothing regenerated: the page as it is
    page = (
        f"# Benchmarks\n\nhand-written\n\n{MARK}\n\n## Written by hand (`benchmarks.slice_dataset`)\n\nnotes\n\n"
        "## Training speed (`benchmarks.training`)\n\nold figures\n"
    )
    merged = merged_document(page, {"training": "## Training speed (`benchmarks.training`)\n\nnew figures",
                                    "memory": "## Peak memory (`benchmarks.memory`)\n\nfigures"})
    assert merged.split(MARK)[0] == "# Benchmarks\n\nhand-written\n\n"
    assert merged.split(MARK)[1] == (
        "\n\n## Written by hand (`benchmarks.slice_dataset`)\n\nnotes\n\n## Training speed (`benchmarks.training`)\n\n"
        "new figures\n\n## Peak memory (`benchmarks.memory`)\n\nfigures\n"
    )
    assert merged_document("", {"memory": "## Peak memory (`benchmarks.memory`)\n\nfigures"}) == (
        f"\n\n{MARK}\n\n## Peak memory (`benchmarks.memory`)\n\nfigures\n"
    )
