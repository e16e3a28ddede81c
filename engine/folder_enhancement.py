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
from tqdm import tqdm

from data.image_io import ImageReadError, list_images, read_image, save_image
from data.output_files import OutputFolderError, check_output_folder, output_stems, require_writable_folder
from data.pairing import pair_key
from net import ZeroLEINR

from .backend_choice import AUTO, BackendRequestError, backend_candidates, choose_enhancer
from .bright_inputs import bright_inputs_note, is_bright
from .checkpoint import CheckpointError, load_iclr_weights, load_zero_leinr_weights
from .device import resolve_device
from .enhancer import OUTPUTS
from .graph_backends import BackendUnavailable
from .performance import PerformanceOptions, apply_backend_flags
from .tiled_inference import check_tiling, needs_tiling, tiled_apply

AUTO_TILE_SIZE = 512  # --tile 0: images over AUTO_TILE_PIXELS are enhanced in tiles of this size


@dataclass(frozen=True)
class FolderEnhancement:
    """What to enhance and how; a tile size and overlap that cannot tile raise ``ValueError``
    (``tiled_inference.check_tiling``).

    ``switches``: ICLR ``saturation_gain`` and ``alpha`` (1.0 = off when left out); Zero-LEINR
    ``square_pad`` and ``adaptive_strength`` (default: the model's). ``gt_dir``: ground truths
    (paired by name) for the ``grid`` panels. ``backend``: ``auto`` or one of ``backend_choice.BACKENDS``; ``faithful``: the
    PyTorch fp32 reference path; ``fast``: each backend's faster, inexact mode (``backend_choice``).
    ``tile``: tile size, 0 for ``AUTO_TILE_SIZE`` above ``tiled_inference.AUTO_TILE_PIXELS``, -1 never;
    ``tile_overlap`` in pixels.
    """
    model: str
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
        if self.tile_size > 0:
            check_tiling(self.tile_size, self.tile_overlap)

    @property
    def tile_size(self) -> int:
        """The size of the tiles when tiling (``tile`` 0 means ``AUTO_TILE_SIZE``)."""
        return self.tile or AUTO_TILE_SIZE


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _load_model(job: FolderEnhancement):
    """The model with its weights and the switches its enhancer takes (Zero-LEINR's are its constructor's)."""
    if job.model == "iclr":
        return load_iclr_weights(job.weights), job.switches
    return load_zero_leinr_weights(job.weights, ZeroLEINR(**job.switches)), {}


def output_suffixes(model: str) -> dict[str, str]:
    """File-name suffix of each output of ``model``: none for a single output (``a.png``), else the
    output's name (``a_fused.png``, ``a_denoised.png``)."""
    names = OUTPUTS[model].names
    return {name: "" if len(names) == 1 else f"_{name}" for name in names}


def enhance_folder(job: FolderEnhancement) -> int:
    """Enhance every image of ``job.input_dir`` into ``job.output_dir`` and say so on stdout; returns the
    exit code: 0, 1 when no input could be read, 2 after a one-line error on stderr (nothing enhanced).

    Raises ``backend_choice.BackendRequestError`` for contradictory backend settings (a usage error for
    the caller to report).
    """
    try:
        check_output_folder(job.output_dir, [job.input_dir] + ([job.gt_dir] if job.gt_dir else []),
                            ["grid"] if job.grid else [])
        device = resolve_device(job.device)
        candidates = backend_candidates(job.backend, device, job.faithful)
        images = list_images(job.input_dir)
        if not images:
            raise FileNotFoundError(f"no images (png/jpg/bmp/tif) in {job.input_dir}")
        stems = output_stems(images)
        opts = PerformanceOptions.fast(device, job.model) if job.fast else PerformanceOptions.faithful()
        apply_backend_flags(opts)
        model, switches = _load_model(job)
        enhancer = choose_enhancer(candidates, job.model, model, switches, device, opts, _note)
        for folder in [job.output_dir] + ([job.output_dir / "grid"] if job.grid else []):
            require_writable_folder(folder)
    except BackendRequestError:
        raise  # a usage error: the command line reports it
    except (FileNotFoundError, ValueError) as err:
        hint = "" if isinstance(err, (CheckpointError, OutputFolderError)) else \
            " (weights: see README 'Weights' or pass --weights; datasets: see README 'Datasets')"
        print(f"error: {err}{hint}", file=sys.stderr)
        return 2
    except BackendUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    suffixes = output_suffixes(job.model)
    print(f"backend: {enhancer.backend} ({enhancer.details})")
    if renamed := [f"{p.name} -> {stems[p]}" for p in images if stems[p] != p.stem]:
        print(f"note: inputs sharing a name are written as <name>_<extension>: {', '.join(renamed)}")
    gts = {pair_key(p): p for p in list_images(job.gt_dir)} if job.gt_dir and job.gt_dir.is_dir() else {}
    failed, bright = 0, []
    for path in tqdm(images, desc=f"enhance -> {job.output_dir}"):
        try:
            image = read_image(path)
        except ImageReadError as err:
            tqdm.write(f"skipped: {err}", file=sys.stderr)
            failed += 1
            continue
        if is_bright(image) and enhancer.image_inputs is None:  # adaptive curves tone such photos down
            bright.append(path.name)
        if job.tile > 0 or (job.tile == 0 and needs_tiling(*image.shape[1:])):
            outputs = tiled_apply(enhancer.for_image(image), image, job.tile_size, job.tile_overlap, progress=True)
        else:
            outputs = enhancer(image)
        for name, out in outputs.items():
            save_image(out, job.output_dir / f"{stems[path]}{suffixes[name]}.png", enhancer.rounding)
        if job.grid:
            panels = [image, *outputs.values()] + ([read_image(gts[pair_key(path)])] if pair_key(path) in gts else [])
            save_image(torch.cat([p.clamp(0, 1) for p in panels], dim=2),
                       job.output_dir / "grid" / f"{stems[path]}.png")
    if message := bright_inputs_note(bright, len(images)):
        _note(message)
    files = " and ".join(f"<name>{suffix}.png" for suffix in suffixes.values())
    print(f"wrote {len(images) - failed} of {len(images)} inputs as {files} to {job.output_dir}"
          + (f" ({failed} skipped)" if failed else ""))
    return 1 if failed == len(images) else 0
