"""The repository's shape, checked: no import cycle between folders, no sys.path
edits, no kernel file over 400 lines."""

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("satcle", "build_grid")


def _module_folder(name: str) -> str | None:
    """The folder (relative to the repository) of the longest importable prefix of `name`."""
    parts = name.split(".")
    while parts:
        path = ROOT.joinpath(*parts)
        if (path / "__init__.py").is_file():
            return "/".join(parts)
        if path.with_suffix(".py").is_file():
            return "/".join(parts[:-1])
        parts = parts[:-1]
    return None


def folder_imports() -> dict[str, set[str]]:
    """folder -> folders its modules import from (satcle and build_grid only)."""
    edges = collections.defaultdict(set)
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).with_suffix("")
            here = list(relative.parts[:-1])   # the module's folder: its package, or the package it is in
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = here[: len(here) - node.level + 1] if node.level else []
                    module = ".".join(base + ([node.module] if node.module else []))
                    names = [module] + [f"{module}.{alias.name}" for alias in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in PACKAGES:
                        target = _module_folder(name)
                        if target is not None and target != "/".join(here):
                            edges["/".join(here)].add(target)
    return edges


def test_no_import_cycle_between_folders():
    # The package root is the facade (satcle/__init__.py, the CLI) over the folders; the
    # modules every layer uses (errors, paths, atomic, ...) live in satcle/core, which
    # imports no other folder. Imports only run downwards, the root included.
    edges = folder_imports()
    assert not edges.get("satcle/core"), edges["satcle/core"]
    assert edges["satcle/grid/lookup"] >= {"satcle/grid/format"}   # the check sees the layers
    for start in edges:
        stack, seen = list(edges[start]), set()
        while stack:
            folder = stack.pop()
            assert folder != start, f"import cycle through {start}"
            if folder not in seen:
                seen.add(folder)
                stack.extend(edges.get(folder, ()))


def test_no_sys_path_edits_and_small_kernels():
    for folder in ("satcle", "build_grid", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "sys.path.insert" not in path.read_text() and "sys.path.append" not in path.read_text(), path
    for path in (ROOT / "ext").glob("*.p*"):
        if path.suffix in (".pyx", ".pxd"):
            assert len(path.read_text().splitlines()) <= 400, path


MAX_MODULE_LINES = 500


def test_no_module_over_500_lines():
    # One module, one job: past ~400 lines a module is usually two.
    long = {str(path.relative_to(ROOT)): n for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


# Names of the read paths of grid formats that were never released (index caches, lookup
# layout 1, grids without checksums or the view's res column, upgrade shims): one format
# is read, and any other is refused in one line (`rebuild_command`).
LEGACY_MARKERS = ("index_cache", "store_format", "GridUpgradeWarning", "UncheckedGridWarning", "upgrade_command",
                  "blank_own_checksum", "with_res=", "readable_lookup", "mappable_table", "cached_cell_index")


def test_no_legacy_format_code_path():
    found = [(str(path.relative_to(ROOT)), marker) for package in PACKAGES for path in (ROOT / package).rglob("*.py")
             for marker in LEGACY_MARKERS if marker in path.read_text()]
    assert not found, found
