"""Export ICLR or Zero-LEINR to one ONNX file for deployment (any height and width, batch 1).

    python export.py --model iclr --weights weights/best.pth --onnx iclr.onnx [--saturation 1.3] [--alpha 0.84]
    python export.py --model zero_leinr --weights weights/zero_leinr --onnx zero_leinr.onnx [--pad each]

Input ``image`` (1,3,H,W) float32 RGB in [0,1], H, W >= 2; Zero-LEINR also ``curve_strength`` (1,2)
float32 in [0,1] (ones: the released curves; ``net.curve_strength.choose_branch_strengths`` picks
the adaptive ones of ``eval.py --curves adaptive``). Outputs: ICLR ``enhanced`` (1,3,H,W) in
[0,1]; Zero-LEINR ``fused`` (unclamped) and ``denoised`` (in [0,1]). The padding of each model
is inside the graph; the test-time switches are fixed at export. The graph comes from the same
cache as ``eval.py --backend onnxruntime|openvino`` (exported there on first use).
"""
import engine.cpu_threads  # noqa: F401  (first: the OpenMP wait policy must be set before torch loads)
import argparse
import os
import sys
from pathlib import Path

from data.atomic_file import atomic_write_bytes
from data.output_files import os_error_text
from engine.argument_types import positive_float
from engine.commands.command_line import CommandLineParser
from engine.inference.onnx_cache import cached_onnx
from engine.inference.onnx_export import INPUT_NAME, OPSET
from engine.model_registry import get_model, list_models
from engine.model_spec import ModelSpec, SwitchFlag


def build_parser() -> CommandLineParser:
    p = CommandLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list_models(), required=True)
    p.add_argument("--weights", required=True,
                   help="ICLR: a state_dict file; Zero-LEINR: a folder with the three released files or one combined file")
    p.add_argument("--onnx", required=True, help="the ONNX file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --onnx if it exists")
    p.add_argument("--saturation", type=positive_float,
                   help="ICLR: saturation gain of the inverse HVI (default 1.0 = off)")
    p.add_argument("--alpha", type=positive_float, help="ICLR: output scale of the inverse HVI (default 1.0 = off)")
    p.add_argument("--pad", choices=["square", "each"],
                   help="Zero-LEINR denoiser padding (default: square, as released; see eval.py --pad)")
    return p


def _graph_flags(spec: ModelSpec) -> list[SwitchFlag]:
    """The flags of the switches that the ONNX graph of ``spec`` fixes: the options of this command."""
    return [flag for flag in spec.switch_flags if flag.in_graph]


def _switches(args, parser) -> dict:
    """The graph's test-time switches from the model's flags (only those given; the rest keep the model's
    defaults). Another model's flag is a usage error."""
    for name in list_models():
        flags = _graph_flags(get_model(name))
        if name != args.model and any(getattr(args, f.dest) is not None for f in flags):
            parser.error(f"{' and '.join(f.flag for f in flags)} appl{'ies' if len(flags) == 1 else 'y'} "
                         f"to --model {name}")
    return {f.switch: f.value(getattr(args, f.dest)) for f in _graph_flags(get_model(args.model))
            if getattr(args, f.dest) is not None}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    switches = _switches(args, parser)
    out = Path(args.onnx)
    if out.is_dir():
        print(f"error: --onnx {out} is a folder; name the file to write (e.g. {out / (args.model + '.onnx')})",
              file=sys.stderr)
        return 2
    if os.path.lexists(out) and not args.overwrite:  # a link to nothing is the user's too
        print(f"error: {out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    spec = get_model(args.model)
    try:
        graph = cached_onnx(spec, spec.load_weights(args.weights), switches,
                            log=lambda msg: print(msg, file=sys.stderr))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"error: exporting to ONNX needs the Python package '{err.name}' (pip install -r requirements.txt)",
              file=sys.stderr)
        return 2
    except OSError as err:  # the cache: a full disk, a folder that cannot be read
        print(f"error: {os_error_text(err)}", file=sys.stderr)
        return 2
    if out.resolve() == graph.resolve():
        print(f"error: --onnx {out} is the cache's own copy of the graph; write it outside {graph.parent}",
              file=sys.stderr)
        return 2
    data = graph.read_bytes()  # read first: an error here is the cache's, not the write's
    try:
        atomic_write_bytes(out, data)  # a link at --onnx is replaced, not written through
    except OSError as err:
        print(f"error: cannot write {out}: {err.strerror}", file=sys.stderr)
        return 2
    inputs = [f"{INPUT_NAME} (1,3,H,W)"] + [f"{extra.onnx_name} ({','.join(map(str, (1, *extra.default.shape)))})"
                                          for extra in spec.graph_inputs]
    print(f"wrote {out} (ONNX opset {OPSET}, inputs {', '.join(inputs)}, outputs {', '.join(spec.outputs.names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
