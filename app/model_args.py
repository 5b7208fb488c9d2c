"""The model options every entry point shares (--model, --tokenizer, --device), and loading
the model they name with a one-line error instead of a traceback."""

from __future__ import annotations

import argparse
import sys


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="default",
        help="default, a checkpoint folder, a CTranslate2 Whisper folder or a .pt file",
    )
    parser.add_argument(
        "--tokenizer", default=None, help="tokenizer.json for an openai-whisper .pt model"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="int8 weights for the decoder's MLPs, encoder key/value and output projections "
        "(CPU only; faster, WER measured in README)",
    )


def load_model_from_args(args: argparse.Namespace, program: str):
    """The LoadedModel the arguments name, or None after printing why it cannot be loaded."""
    from model.checkpoint import load_model  # imports torch: only once the usage is checked

    try:
        loaded = load_model(args.model, args.device, args.tokenizer, captioning_only=True)
        if getattr(args, "int8", False):
            from model.quantize import quantize_int8

            quantize_int8(loaded.model)
        elif loaded.model.device.type == "cpu":
            from model.decoder import TextDecoder

            if isinstance(loaded.model.decoder, TextDecoder):
                import torch

                # The decoder's attention over the encoder output reads its keys/values at
                # every step; held in bfloat16, PyTorch's CPU attention kernel takes 2.6
                # instead of 3.8 ms a layer for a batch of 8 windows, and they take half
                # the memory (74 MB less for a batch of 8). On 20 minutes of speech the
                # words came out identical. Not with --int8: there the words changed (WER
                # 15.73 -> 17.06%, measured).
                loaded.model.decoder.cross_dtype = torch.bfloat16
        return loaded
    except (ValueError, OSError) as error:
        print(f"{program}: cannot load model: {' '.join(str(error).split())}", file=sys.stderr)
        return None
