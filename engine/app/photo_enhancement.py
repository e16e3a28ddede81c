"""Enhance one photo for the web app (``app.py``) exactly as ``python eval.py --input_dir`` does: the same
enhancer (backend choice, ONNX cache), tiling and 8-bit file, with each model loaded once per process.

``PhotoSettings`` are one request's test-time switches, ``AppModels`` the process's models and their
enhancers, ``enhance_photo`` enhances one file into a folder (eval.py's file, named as eval.py names it,
and two previews for the before/after slider) and returns a ``PhotoResult``. A file that cannot be read
raises ``data.image_io.ImageReadError``.
"""
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from data.atomic_file import atomic_write
from data.image_io import IMAGE_EXTENSIONS, ImageReadError, read_image, save_image, to_uint8_truncate
from net.curve_strength import RELEASED_STRENGTH

from ..device import resolve_device
from ..inference.backend_choice import AUTO, backend_candidates
from ..inference.enhancer import Enhancer
from ..inference.folder_enhancement import FolderEnhancement, enhance_image, load_model, make_enhancer, output_suffixes
from ..inference.graph_backends import BackendUnavailable
from ..model_registry import MODELS, get_model, list_models
from ..model_spec import ModelSpec

# Zero-LEINR's curve strength: chosen per photo (eval.py --curves adaptive), in full (--curves released),
# or a strength per branch that the user picks (1.0 for both is the released curve).
CURVES = ("adaptive", "released", "chosen")
# The switch of a model with a curve strength (Zero-LEINR): such a model is loaded once, adaptive; a released
# or chosen strength is passed per photo (the same graph).
_ADAPTIVE_SWITCH = "adaptive_strength"
ENHANCERS_KEPT = 4  # enhancers (one per ICLR saturation / alpha pair) kept loaded; the oldest goes first
PREVIEW_SIDE = 2048  # the slider shows photos shrunk to this longer side; the download is full size


@dataclass(frozen=True)
class PhotoSettings:
    """One request's switches, as ``eval.py``'s flags: ``model`` (``--model``); ICLR's ``saturation_gain``
    and ``alpha`` (``--saturation``, ``--alpha``; 1.0 = off); Zero-LEINR's ``curves`` (a value of
    ``CURVES``) with, for ``chosen``, the ``strength`` of branch 1 and 2 in [0,1]; ``output``: the output
    shown and offered for download (None: the model's result, ``Enhancer.main_output``). Raises
    ``ValueError`` for a value out of range."""
    model: str = list_models()[0]
    saturation_gain: float = 1.0
    alpha: float = 1.0
    curves: str = CURVES[0]
    strength: tuple[float, float] = (1.0, 1.0)
    output: str | None = None

    def __post_init__(self):
        spec = self.spec  # ValueError for an unknown name
        if self.curves not in CURVES:
            raise ValueError(f"unknown curve strength {self.curves!r}; choose one of {', '.join(CURVES)}")
        if not all(0.0 <= s <= 1.0 for s in self.strength):
            raise ValueError(f"curve strengths must lie in [0, 1], got {self.strength}")
        if self.output is not None and self.output not in spec.outputs.names:
            raise ValueError(f"{spec.label} has no output {self.output!r}")

    @property
    def spec(self) -> ModelSpec:
        """The spec of ``model``."""
        return get_model(self.model)

    @property
    def enhancer_switches(self) -> dict:
        """The switches fixed in the model's enhancer: the sliders' where the model has switches of their names
        (ICLR's saturation gain and alpha; Zero-LEINR's strength goes per photo, ``fixed_strength``)."""
        sliders = {"saturation_gain": self.saturation_gain, "alpha": self.alpha}
        return {switch: value for switch, value in sliders.items() if self.spec.has_switch(switch)}

    @property
    def fixed_strength(self) -> torch.Tensor | None:
        """Zero-LEINR's (2,) curve strength for every photo; None where the model chooses (adaptive) or has none."""
        if not self.spec.has_switch(_ADAPTIVE_SWITCH) or self.curves == "adaptive":
            return None
        return RELEASED_STRENGTH if self.curves == "released" else torch.tensor(self.strength, dtype=torch.float32)


class AppModels:
    """The app's models, each loaded at its first use and kept for the process, and their enhancers.

    ``weights``: per model name (default ``ModelSpec.shipped_weights``); ``device``, ``backend``, ``faithful``,
    ``fast`` as ``FolderEnhancement``'s (the same backend choice). Raises
    ``backend_choice.BackendRequestError`` for contradictory backend settings.
    """

    def __init__(self, weights: dict[str, str] | None = None, device: str | None = None, backend: str = AUTO,
                 faithful: bool = False, fast: bool = False):
        self.weights = {name: spec.shipped_weights for name, spec in MODELS.items()} | (weights or {})
        self.device = resolve_device(device)
        self.candidates = backend_candidates(backend, self.device, faithful)
        self.fast = fast
        self._models: dict[str, tuple] = {}
        self._enhancers: dict[tuple, Enhancer] = {}

    def model(self, name: str) -> tuple[torch.nn.Module, dict]:
        """Model ``name`` with its weights and the switches of its enhancer (``folder_enhancement.load_model``),
        loaded at the first call. Raises ``FileNotFoundError`` or ``checkpoint.CheckpointError`` for the weights."""
        if name not in self._models:
            spec = get_model(name)
            switches = {_ADAPTIVE_SWITCH: True} if spec.has_switch(_ADAPTIVE_SWITCH) else {}
            self._models[name] = load_model(spec, self.weights[name], switches)
        return self._models[name]

    def enhancer(self, settings: PhotoSettings, note=print) -> Enhancer:
        """The enhancer for ``settings``; ``note`` (a ``print``-like callable) hears of a missing backend or
        a graph export. Raises as ``model``, and ``graph_backends.BackendUnavailable`` when no backend is
        installed."""
        name = settings.model
        model, switches = self.model(name)
        switches = {**switches, **settings.enhancer_switches}
        key = (name, tuple(sorted(switches.items())))
        if key not in self._enhancers:
            if len(self._enhancers) >= ENHANCERS_KEPT:
                del self._enhancers[next(iter(self._enhancers))]
            self._enhancers[key] = make_enhancer(settings.spec, model, switches, self.device, self.candidates,
                                                 self.fast, note)
        enhancer = self._enhancers[key]
        if (strength := settings.fixed_strength) is not None:
            return replace(enhancer, image_inputs=lambda image: {"strength": strength})
        return enhancer


@dataclass(frozen=True)
class PhotoResult:
    """One enhanced photo: ``download`` is the full-size PNG ``eval.py`` writes (same name, same bytes),
    ``before`` and ``after`` the slider's previews (PNG, at most ``PREVIEW_SIDE`` pixels on the longer
    side), ``size`` (height, width), ``seconds`` the enhancement's time, ``backend`` the path that ran it."""
    name: str
    download: Path
    before: Path
    after: Path
    size: tuple[int, int]
    seconds: float
    backend: str


def _write_preview(image, path: Path) -> Path:
    """Save an (H,W,3) uint8 array as a PNG shrunk to at most ``PREVIEW_SIDE`` on its longer side."""
    preview = Image.fromarray(image)
    preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    atomic_write(path, lambda f: preview.save(f, format="PNG"))
    return path


def enhance_photo(enhancer: Enhancer, path: Path, folder: Path, output: str | None = None,
                  tile: int = FolderEnhancement.tile,
                  tile_overlap: int = FolderEnhancement.tile_overlap) -> PhotoResult:
    """Enhance the image file ``path`` into ``folder`` (created): ``<name><suffix>.png`` as ``eval.py`` names
    and writes it, for ``output`` (default: the model's result), and the previews ``before.png`` /
    ``after.png`` in ``folder/preview``. ``tile`` and ``tile_overlap`` as
    ``FolderEnhancement``'s; a photo that is tiled shows a tqdm bar over its tiles.

    Raises ``ImageReadError`` for a file that is not an image (by extension or content) or cannot be read.
    """
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ImageReadError(f"{path.name} is not an image file (expected {', '.join(sorted(IMAGE_EXTENSIONS))})")
    output = output or enhancer.main_output
    image = read_image(path)
    start = time.perf_counter()
    outputs = enhance_image(enhancer, image, tile, tile_overlap)
    seconds = time.perf_counter() - start
    previews = folder / "preview"
    previews.mkdir(parents=True)
    download = folder / f"{path.stem}{output_suffixes(enhancer.model)[output]}.png"
    save_image(outputs[output], download, enhancer.rounding)
    return PhotoResult(path.name, download, _write_preview(to_uint8_truncate(image), previews / "before.png"),
                       _write_preview(enhancer.to_uint8(outputs[output]), previews / "after.png"),
                       tuple(image.shape[1:]), seconds, f"{enhancer.backend} ({enhancer.details})")


def enhance_uploads(models: AppModels, settings: PhotoSettings, uploads: list[Path], folder: Path,
                    note=print) -> tuple[list[PhotoResult], list[str]]:
    """Enhance every file of ``uploads`` with ``settings``, each into its own subfolder of ``folder``
    (``enhance_photo``; a tqdm bar over the photos when there are several) -> the results, and one message
    per file that could not be enhanced (the others still are). A model that cannot be loaded (weights,
    backend) is one message and no results; so is an empty list. ``note`` as ``AppModels.enhancer``'s.
    """
    if not uploads:
        return [], ["Add one or more photos first: drop them on the box, or pick an example."]
    try:
        enhancer = models.enhancer(settings, note)
    except (FileNotFoundError, ValueError, BackendUnavailable) as err:
        return [], [f"{settings.spec.label} cannot be loaded: {err}"]
    results, errors = [], []
    for index, path in enumerate(tqdm(uploads, desc="photos", disable=len(uploads) < 2)):
        try:
            results.append(enhance_photo(enhancer, path, folder / str(index), settings.output))
        except ImageReadError as err:
            errors.append(str(err).replace(str(path), path.name))
        except OSError as err:
            errors.append(f"{path.name}: {err.strerror}")
    return results, errors
