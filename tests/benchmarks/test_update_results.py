"""benchmarks/update_results.py: rerunning some benchmarks keeps every other current section."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "update_results.py"


def _load():
    spec = importlib.util.spec_from_file_location("update_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _section(name: str, body: str) -> str:
    return f"<!-- benchmark: {name} -->\n### {name}\n\n```\n{body}\n```\n<!-- end -->\n"


def test_rerunning_one_benchmark_keeps_the_others_and_moves_its_old_text_to_history():
    results = _load()
    text = (f"{results.HEADER}\n{results.CURRENT}\n\n" + _section("encoder", "old encoder") + "\n"
            + _section("lookup-default", "default grid lookup") + "\n" + _section("open-default", "default open")
            + f"\n{results.HISTORY}\n\nolder history\n")
    rewritten = results.rewrite(text, {"encoder": _section("encoder", "new encoder")})
    current, _, history = rewritten.partition(results.HISTORY)
    assert "new encoder" in current and "old encoder" not in current
    assert "default grid lookup" in current and "default open" in current
    assert "old encoder" in history and history.index("old encoder") < history.index("older history")


def test_every_benchmark_name_is_one_the_results_file_can_hold():
    results = _load()
    for name in results.BENCHMARKS:
        assert results.SECTION.fullmatch(_section(name, "x")), name
