"""Enhance a folder of images with a model's weights, as ``python eval.py`` does (and ``train.py`` after a run).

Everything that can go wrong with the folders, the weights or the backend is reported as one line
before any image is enhanced; a corrupt image is skipped with a message, and inputs that are not
low-light photos are named in a note at the end (``bright_inputs``), unless the model adapts to each
image (Zero-LEINR's adaptive curve strength, ``Enhancer.image_inputs``). Outputs are named by
``data.output_files`` (``<name>.png`` for ICLR, ``<name>_fused.png`` and ``<name>_denoised.png``
for Zero-LEINR), in 8 bits as the model's released script saves them (``Enhancer.to_uint8``).
"""
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from data.image_io import ImageReadError, list_images, passed_over_summary, pixel_limit, read_image, save_image
from data.output_files import (OutputFolderError, check_output_folder, os_error_text, output_stems,
                               require_writable_folder)
from data.output_manifest import write_output_manifest
from data.pairing import pair_key

from ..device import resolve_device
from ..exit_codes import EXIT_INTERRUPTED
from ..model_spec import ModelSpec
from ..performance import PerformanceOptions, apply_backend_flags
from ..weights.checkpoint import CheckpointError
from .backend_choice import AUTO, BackendRequestError, backend_candidates, choose_enhancer
from .bright_inputs import bright_inputs_note, is_bright
from .enhancer import Enhancer
from .graph_backends import BackendUnavailable
from .inference_memory import needs_tiling
from .tiled_inference import check_tiling, tiled_apply

AUTO_TILE_SIZE = 512  # --tile 0: images too large to enhance whole (inference_memory) take tiles of this size


@dataclass(frozen=True)
class FolderEnhancement:
    """What to enhance with which ``model`` and how; a tile size and overlap that cannot tile raise ``ValueError``
    (``tiled_inference.check_tiling``).

    ``switches``: ICLR ``saturation_gain`` and ``alpha`` (1.0 = off when left out); Zero-LEINR
    ``square_pad`` and ``adaptive_strength`` (default: the model's). ``gt_dir``: ground truths
    (paired by name) for the ``grid`` panels. ``backend``: ``auto`` or one of ``backend_choice.BACKENDS``; ``faithful``: the
    PyTorch fp32 reference path; ``fast``: each backend's faster, inexact mode (``backend_choice``).
    ``tile``: tile size, 0 for ``AUTO_TILE_SIZE`` when ``inference_memory.needs_tiling``, -1 never;
    ``tile_overlap`` in pixels.
    """
    model: ModelSpec
    input_dir: Path
    output_dir: Path
    weights: str
    switches: dict = field(default_factory=dict)
    gt_dir: Path | None = None
    grid: bool = False
    device: str | None = None
    backend: str = AUTO
    faithful: bool = False
    fast: bool = False
    tile: int = 0
    tile_overlap: int = 64

    def __post_init__(self):
        if self.tile < -1:
            raise ValueError("the tile size must be -1 (never tile), 0 (automatic) or a size")
        if self.tile_size > 0:
            check_tiling(self.tile_size, self.tile_overlap)

    @property
    def tile_size(self) -> int:
        """The size of the tiles when tiling (``tile`` 0 means ``AUTO_TILE_SIZE``)."""
        return self.tile or AUTO_TILE_SIZE


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def load_model(spec: ModelSpec, weights: str, switches: dict) -> tuple[torch.nn.Module, dict]:
    """The network of ``spec`` with its weights (``FolderEnhancement.weights``) and the switches its enhancer
    takes: ``FolderEnhancement.switches`` less the network's constructor arguments (``ModelSpec.network_switches``,
    all of Zero-LEINR's). Raises ``FileNotFoundError`` or ``CheckpointError`` for the weights."""
    network_switches, run_switches = spec.split_switches(switches)
    return spec.load_weights(weights, spec.network(**network_switches)), run_switches


def make_enhancer(spec: ModelSpec, model: torch.nn.Module, switches: dict, device: torch.device,
                  candidates: tuple, fast: bool = False, note=_note) -> Enhancer:
    """The enhancer of a ``load_model`` result on ``device``, through the first installed backend of
    ``candidates`` (``backend_choice.backend_candidates``), with ``FolderEnhancement.fast``'s options when
    ``fast``; ``note`` (a ``print``-like callable) says when a backend is missing or a graph is exported.
    Raises ``BackendUnavailable`` when no candidate is installed."""
    opts = PerformanceOptions.fast(device, spec) if fast else PerformanceOptions.faithful()
    apply_backend_flags(opts)
    return choose_enhancer(candidates, spec, model, switches, device, opts, note)


def output_suffixes(spec: ModelSpec) -> dict[str, str]:
    """File-name suffix of each output of model ``spec``: none for a single output (``a.png``), else the
    output's name (``a_fused.png``, ``a_denoised.png``)."""
    names = spec.outputs.names
    return {name: "" if len(names) == 1 else f"_{name}" for name in names}


def enhance_image(enhancer: Enhancer, image: torch.Tensor, tile: int, tile_overlap: int,
                  progress: bool = True) -> dict[str, torch.Tensor]:
    """The outputs of one image (3,H,W) in [0,1] as ``enhance_folder`` computes them before saving them
    (``save_image(output, path, enhancer.rounding)``): ``{name: (3,H,W) float32 on the CPU}``.

    ``tile`` and ``tile_overlap`` as ``FolderEnhancement``'s (0: tiles of ``AUTO_TILE_SIZE`` when the
    whole image would not fit in memory, ``inference_memory.needs_tiling``; -1: never); ``progress``
    shows a tqdm bar over the tiles.
    """
    if tile > 0 or (tile == 0 and needs_tiling(enhancer, *image.shape[1:])):
        return tiled_apply(enhancer.for_image(image), image, tile or AUTO_TILE_SIZE, tile_overlap, progress=progress)
    return enhancer(image)


def ground_truth_panel(gt_path: Path | None, height: int, width: int) -> list[torch.Tensor]:
    """The ground-truth panel of a grid image: ``[]`` without a ground truth, or with one that cannot be
    read (with a note), else ``[(3, height, width)]``, resized (bicubic) to the output's size when its size
    differs (with a note)."""
    if gt_path is None:
        return []
    try:
        gt = read_image(gt_path)
    except (ImageReadError, OSError) as err:
        tqdm.write(f"note: grid without a ground-truth panel: {err}", file=sys.stderr)
        return []
    if gt.shape[1:] != (height, width):
        tqdm.write(f"note: grid: ground truth {gt_path} is {gt.shape[2]}x{gt.shape[1]} (WxH), resized to the "
                   f"output's {width}x{height}", file=sys.stderr)
        gt = F.interpolate(gt[None], size=(height, width), mode="bicubic", antialias=True)[0]
    return [gt]


def enhance_folder(job: FolderEnhancement) -> int:
    """Enhance every image of ``job.input_dir`` into ``job.output_dir`` and say so on stdout; returns the
    exit code: 0, 1 when no input could be read, 2 after a one-line error on stderr (nothing enhanced; or,
    when an output cannot be written, e.g. on a full disk, the outputs before it and the earlier files kept),
    ``EXIT_INTERRUPTED`` after Ctrl-C (one line saying how many inputs were written). The summary names the
    entries of the input folder that were not read (``passed_over_summary``); the output folder's
    ``eval_outputs.json`` lists the outputs this run has written (``data.output_manifest``), so that
    ``measure.py`` leaves out the files of earlier runs.

    Raises ``backend_choice.BackendRequestError`` for contradictory backend settings (a usage error for
    the caller to report).
    """
    try:
        check_output_folder(job.output_dir, [job.input_dir] + ([job.gt_dir] if job.gt_dir else []),
                            ["grid"] if job.grid else [])
        pixel_limit()  # a bad $LLIE_MAX_PIXELS: one line now, not at the first image
        device = resolve_device(job.device)
        candidates = backend_candidates(job.backend, device, job.faithful)
        images = list_images(job.input_dir)
        not_read = passed_over_summary(job.input_dir)
        if not images:
            raise FileNotFoundError(f"no images (png/jpg/bmp/tif) in {job.input_dir}"
                                    + (f"; not read: {not_read}" if not_read else ""))
        stems = output_stems(images)
        model, switches = load_model(job.model, job.weights, job.switches)
        enhancer = make_enhancer(job.model, model, switches, device, candidates, job.fast)
        for folder in [job.output_dir] + ([job.output_dir / "grid"] if job.grid else []):
            require_writable_folder(folder)
        write_output_manifest(job.output_dir, [])  # the files of earlier runs are not this run's outputs
    except BackendRequestError:
        raise  # a usage error: the command line reports it
    except (FileNotFoundError, ValueError) as err:
        hint = " (weights: see README 'Weights' or pass --weights; datasets: see README 'Datasets')" \
            if isinstance(err, FileNotFoundError) and not isinstance(err, (CheckpointError, OutputFolderError)) \
            else ""
        print(f"error: {err}{hint}", file=sys.stderr)
        return 2
    except BackendUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. a full disk
        print(f"error: {os_error_text(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted before any image was enhanced", file=sys.stderr)
        return EXIT_INTERRUPTED
    suffixes = output_suffixes(job.model)
    print(f"backend: {enhancer.backend} ({enhancer.details})")
    if renamed := [f"{p.name} -> {stems[p]}" for p in images if stems[p] != p.stem]:
        print(f"note: inputs sharing a name are written as <name>_<extension>: {', '.join(renamed)}")
    gts = {pair_key(p): p for p in list_images(job.gt_dir)} if job.gt_dir and job.gt_dir.is_dir() else {}
    failed, bright, written = 0, [], []  # written: the file names of this run's outputs (its manifest)
    try:
        for path in tqdm(images, desc=f"enhance -> {job.output_dir}"):
            try:
                image = read_image(path)
            except ImageReadError as err:
                tqdm.write(f"skipped: {err}", file=sys.stderr)
                failed += 1
                continue
            if is_bright(image) and enhancer.image_inputs is None:  # adaptive curves tone such photos down
                bright.append(path.name)
            try:
                outputs = enhance_image(enhancer, image, job.tile, job.tile_overlap)
            except OSError as err:  # e.g. OpenVINO's compiled blobs on a full disk
                tqdm.write(f"error: {os_error_text(err)}", file=sys.stderr)
                return 2
            try:
                for name, out in outputs.items():
                    file_name = f"{stems[path]}{suffixes[name]}.png"
                    save_image(out, job.output_dir / file_name, enhancer.rounding)
                    written.append(file_name)
                write_output_manifest(job.output_dir, written)
                if job.grid:
                    panels = [image, *outputs.values(), *ground_truth_panel(gts.get(pair_key(path)), *image.shape[1:])]
                    save_image(torch.cat([p.clamp(0, 1) for p in panels], dim=2),
                               job.output_dir / "grid" / f"{stems[path]}.png")
            except OSError as err:  # a full disk: save_image writes atomically, so every earlier file stays whole
                tqdm.write(f"error: cannot write {err.filename}: {err.strerror}", file=sys.stderr)
                return 2
    except KeyboardInterrupt:
        print(f"interrupted: {len(written) // len(suffixes)} of {len(images)} images written to {job.output_dir}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if message := bright_inputs_note(bright, len(images)):
        _note(message)
    files = " and ".join(f"<name>{suffix}.png" for suffix in suffixes.values())
    print(f"wrote {len(images) - failed} of {len(images)} inputs as {files} to {job.output_dir}"
          + (f" ({failed} skipped)" if failed else "") + (f"; not read: {not_read}" if not_read else ""))
    return 1 if failed == len(images) else 0
