"""Serve the avsub web page: python serve.py [--host 127.0.0.1] [--port 7860] [options].

Subtitle tab (API endpoint /subtitle) and Score tab (API endpoint /score); the model is
loaded once and shared by all requests, which wait in order beyond --concurrency, at most
--max-waiting of them, at most --per-client from one client address.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from app.model_args import ModelCache, add_model_arguments, load_model_from_args
from model.named_models import AUTO, BASE, TINY_EN, canonical_name, is_named


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (0.0.0.0: every interface)"
    )
    parser.add_argument("--port", type=int, default=7860)
    add_model_arguments(parser)
    parser.add_argument("--max-file-mb", type=float, default=1024, help="largest upload in MB")
    parser.add_argument(
        "--max-minutes", type=float, default=120, help="longest media accepted, in minutes"
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="requests run at once; others wait in order"
    )
    parser.add_argument(
        "--max-waiting",
        type=int,
        default=16,
        help="requests waiting at most; more are refused as 'server busy' (default 16)",
    )
    parser.add_argument(
        "--per-client",
        type=int,
        default=2,
        help="requests one client address may have waiting or running (default 2)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    if args.max_file_mb <= 0 or args.max_minutes <= 0:
        parser.error("--max-file-mb and --max-minutes must be positive")
    if args.concurrency < 1 or args.max_waiting < 1 or args.per_client < 1:
        parser.error("--concurrency, --max-waiting and --per-client must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # One server-owned directory for everything written while serving: our outputs and,
    # unless the user chose otherwise, Gradio's upload cache (read when gradio is imported).
    work_dir = Path(tempfile.mkdtemp(prefix="avsub-serve-"))
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work_dir / "gradio"))
    try:
        from app.web import Limits, ModelChoices, build_app  # gradio, torch: after the checks

        if args.model == AUTO or is_named(args.model):
            # The page offers every named model; the default one is loaded before serving.
            load = ModelCache(args, "serve.py")
            default = canonical_name(args.model)
            try:
                for name in (BASE, TINY_EN) if default == AUTO else (default,):
                    loaded = load(name)
            except SystemExit as stop:
                return stop.code
            models = ModelChoices.named(load, default)
        else:
            loaded = load_model_from_args(args, "serve.py")
            if loaded is None:
                return 2
            models = ModelChoices.single(loaded)
        limits = Limits(
            args.max_file_mb, args.max_minutes, args.concurrency, args.max_waiting, args.per_client
        )
        # Every refused request is one line in the log, as it is for the client.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("serve.py: %(message)s"))
        web_log = logging.getLogger("avsub.web")
        web_log.addHandler(handler)
        web_log.setLevel(logging.INFO)
        web_log.propagate = False
        app = build_app(models, limits, work_dir)
        print(
            f"serve.py: model {models.default} on {loaded.model.device}, visual branch "
            f"{'active' if loaded.model.uses_vision() else 'inactive'}",
            file=sys.stderr,
        )
        # `docker stop` and test teardown send SIGTERM: close as on Ctrl-C, so that the
        # finally below removes the work directory.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            app.launch(
                server_name=args.host,
                server_port=args.port,
                max_file_size=limits.max_file_bytes,
                footer_links=["api"],
            )
        except OSError as error:  # e.g. the port is taken
            print(f"serve.py: cannot serve: {' '.join(str(error).split())}", file=sys.stderr)
            return 2
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
