"""Imports point one way (docs/architecture.md): model/, data/ and evaluation/ never import
app/; data/ is below model/ and evaluation/, which do not import each other; nothing in a
package imports an entry point, bench/ or tests/. Checked by parsing every import with ast,
including those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("data", "model", "evaluation", "app")
ENTRY_POINTS = ("caption", "score", "serve", "train")
# What each package may import of the project (itself included).
ALLOWED = {
    "data": {"data"},
    "model": {"model", "data"},
    "evaluation": {"evaluation", "data"},
    "app": {"app", "model", "data", "evaluation"},
}
PROJECT = (*PACKAGES, *ENTRY_POINTS, "bench", "tests", "examples")


def imported_modules(source: str, package: str) -> set[str]:
    """Every module `source` (a file of `package`) imports, as absolute dotted names;
    relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def project_imports(path: Path) -> set[str]:
    """The top-level project names (app, data, train, ...) that the file at `path` imports."""
    package = ".".join(path.relative_to(ROOT).parts[:-1])
    found = imported_modules(path.read_text(), package)
    return {name.split(".")[0] for name in found} & set(PROJECT)


def test_the_parser_sees_every_kind_of_import():
    source = "import data.media\nfrom model import audio\nfrom .layout import x\n"
    source += "def f():\n    from evaluation.report import markdown_table\n"
    found = imported_modules(source, "app")
    assert {"data.media", "model", "app.layout", "evaluation.report"} <= found
    assert "app.layout" in imported_modules("from ..layout import x", "app.sub")


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_is_below_them(package):
    wrong = {
        str(path.relative_to(ROOT)): sorted(project_imports(path) - ALLOWED[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_entry_points_do_not_import_each_other_bench_or_tests():
    for name in ENTRY_POINTS:
        found = project_imports(ROOT / f"{name}.py")
        assert found <= set(PACKAGES), (name, sorted(found - set(PACKAGES)))


# The media-to-subtitles stages of app/, in the order data flows through them: a stage may
# import the stages before it, never one after it (docs/architecture.md, Stages).
APP_STAGES = (
    "speech_regions",
    "chunks",
    "file_reading",
    "reader_threads",
    "word_timing",
    "batch_decoding",
    "chinese_text",
    "layout",
    "cut_timing",
    "language_layout",
    "whisper_loop",
    "subtitle_run",
    "folder",
    "language_routing",
    "web",
)


def test_app_stages_import_only_earlier_stages():
    backwards = {}
    for position, stage in enumerate(APP_STAGES):
        source = (ROOT / "app" / f"{stage}.py").read_text()
        found = {
            name.split(".")[1]
            for name in imported_modules(source, "app")
            if name.startswith("app.") and name.split(".")[1] in APP_STAGES
        }
        later = sorted(found & set(APP_STAGES[position + 1 :]))
        if later:
            backwards[stage] = later
    assert backwards == {}
