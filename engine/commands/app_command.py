"""A local web app to enhance your own photos with ICLR or Zero-LEINR (needs Gradio: pip install -e '.[app]').

    python app.py                              # http://127.0.0.1:7860, this computer only
    python app.py --port 8080                  # another port
    python app.py --host 0.0.0.0               # reachable from the local network (no password!)

Fully offline: no analytics, no share link, no assets from the internet. Each result is the file
`python eval.py --input_dir` writes for the photo with the same switches (the same backend choice, ONNX
cache and tiling); uploads and results live in a temporary folder, deleted with the page's session.
"""
import argparse
import importlib.util
import os
import signal
import sys

from data.image_io import pixel_limit

from ..app.app_workspace import AppWorkspace
from ..app.photo_enhancement import AppModels
from ..inference.backend_choice import AUTO, BACKENDS
from ..model_registry import MODELS
from .command_line import CommandLineParser

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
INSTALL_HINT = "pip install -e '.[app]' (or run make app)"
MAX_PORT = 65535


def build_parser() -> CommandLineParser:
    """The flags of ``python app.py``; ``--help`` shows this module's docstring."""
    p = CommandLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to serve on (default {DEFAULT_HOST}: this "
                                                        "computer only; 0.0.0.0: every network interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})")
    for spec in MODELS.values():
        p.add_argument(f"--{spec.name}_weights", default=spec.shipped_weights,
                       help=f"{spec.label} weights, as eval.py --weights (default {spec.shipped_weights})")
    p.add_argument("--device", default=None, help="as eval.py --device (default: CUDA when available)")
    p.add_argument("--backend", choices=[AUTO, *BACKENDS], default=AUTO, help="as eval.py --backend")
    p.add_argument("--faithful", action="store_true", help="as eval.py --faithful")
    p.add_argument("--fast", action="store_true", help="as eval.py --fast")
    return p


def _interrupt(signum, frame):
    """SIGTERM: stop as Ctrl-C does (once: a second signal must not break the shutdown)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """``python app.py`` with ``argv`` (default: the command line): serve the app until Ctrl-C -> exit code
    (usage errors exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.port <= MAX_PORT:
        parser.error(f"--port must be between 1 and {MAX_PORT}, got {args.port}")
    if args.faithful and args.fast:
        parser.error("--faithful and --fast exclude each other")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before Gradio loads: no telemetry, no version check
    if importlib.util.find_spec("gradio") is None:
        print(f"error: the app needs Gradio: {INSTALL_HINT}", file=sys.stderr)
        return 2
    try:
        models = AppModels({name: getattr(args, f"{name}_weights") for name in MODELS}, args.device,
                           args.backend, args.faithful, args.fast)
    except ValueError as err:  # a backend request or a device that cannot be
        parser.error(str(err))
    try:
        pixel_limit()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        for name in MODELS:
            models.model(name)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err} (the shipped weights belong in weights/: see README 'Weights')", file=sys.stderr)
        return 2
    workspace = AppWorkspace()
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.root)  # read as Gradio loads: its uploads and cache go there too
    try:
        from ..app.app_page import serve
        try:
            page = serve(models, workspace, args.host, args.port)
        except OSError:  # Gradio's message names its own settings, not the flags
            print(f"error: cannot serve on {args.host}:{args.port}: the port is in use or the address is not one "
                  f"of this computer's; choose another with --port or --host", file=sys.stderr)
            return 2
        print(f"Serving on http://{args.host}:{args.port} (Ctrl-C stops the app)", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl-C does: the workspace goes too
        page.block_thread()
    finally:
        workspace.close()
    return 0
