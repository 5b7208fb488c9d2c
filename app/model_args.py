"""The model options every entry point shares (--model, --tokenizer, --device), and loading
the model they name with a one-line error instead of a traceback."""

from __future__ import annotations

import argparse
import sys

from model.named_models import AUTO, MODEL_CHOICES


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=AUTO,
        help=f"{', '.join(MODEL_CHOICES)} (default {AUTO}: each file's language is detected by "
        "base; English is done by tiny.en, other languages by base), a checkpoint folder, "
        "a CTranslate2 Whisper folder or a .pt file",
    )
    parser.add_argument(
        "--tokenizer", default=None, help="tokenizer.json for an openai-whisper .pt model"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument(
        "--float32",
        action="store_true",
        help="on a CPU, compute everything in float32 instead of the default fast setting "
        "(int8 weights for the decoder's MLPs, encoder key/value and output projections, and "
        "bfloat16 where the CPU computes it natively; WER of both in README)",
    )
    # The fast setting used to need this flag; it is the default now and the flag is kept
    # so that existing scripts keep working.
    parser.add_argument("--int8", action="store_true", help=argparse.SUPPRESS)


def load_model_from_args(
    args: argparse.Namespace, program: str, name: str | None = None, prepare: bool = True
):
    """The LoadedModel the arguments name (or `name`, a named model, for --model auto), in
    the CPU setting they ask for (`for_cpu`; not with prepare=False), or None after
    printing why it cannot be loaded."""
    from model.checkpoint import load_model  # imports torch: only once the usage is checked

    try:
        loaded = load_model(name or args.model, args.device, args.tokenizer, captioning_only=True)
        return for_cpu(loaded, fast=not getattr(args, "float32", False)) if prepare else loaded
    except (ValueError, OSError) as error:
        print(f"{program}: cannot load model: {' '.join(str(error).split())}", file=sys.stderr)
        return None


def for_cpu(loaded, fast: bool = True, int8_decoder: bool = True):
    """The CPU settings of the command lines, applied to a loaded model in place: the fast
    one (int8 decoder layers, bfloat16 where the CPU has it) or float32 (bfloat16 for the
    encoder's keys and values only). int8_decoder=False leaves the decoder's layers as
    they are (for language detection alone; applying it again later adds them). A model
    on a GPU is left as it is."""
    if loaded.model.device.type != "cpu":
        return loaded
    if fast and int8_decoder:
        from model.quantize import quantize_int8

        quantize_int8(loaded.model)
    from model.cpu_precision import hold_in_bfloat16, native_bfloat16

    if native_bfloat16():
        hold_in_bfloat16(loaded.model, encoder=fast)
    return loaded


class ModelCache:
    """Named models loaded on first use and kept (--model auto needs one or two)."""

    def __init__(self, args: argparse.Namespace, program: str):
        self.args, self.program, self.loaded, self.prepared = args, program, {}, set()

    def _load(self, name: str):
        if name not in self.loaded:
            loaded = load_model_from_args(self.args, self.program, name, prepare=False)
            if loaded is None:
                raise SystemExit(2)
            self.loaded[name] = loaded
        return self.loaded[name]

    def __call__(self, name: str):
        """The model in the CPU setting asked for, for decoding; SystemExit(2) after
        printing why it cannot be loaded."""
        loaded = self._load(name)
        if name not in self.prepared:
            for_cpu(loaded, fast=not getattr(self.args, "float32", False))
            self.prepared.add(name)
        return loaded

    def detector(self, name: str):
        """The model for language detection alone (one encoder pass and one decoder step a
        file): its decoder is made int8 only if it decodes later, since packing base's
        decoder costs more than detecting the language of a few files."""
        loaded = self._load(name)
        if name not in self.prepared:
            for_cpu(loaded, fast=not getattr(self.args, "float32", False), int8_decoder=False)
        return loaded
