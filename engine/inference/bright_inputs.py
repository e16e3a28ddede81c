"""Inputs that are not low-light photos, named after enhancing a folder.

Both models are trained on dark images (LOLv1 ``our485/low``, mean brightness 0.06; Zero-LEINR also
on the DICM, LIME and MEF photos, most of them dark) and, applied as released, brighten whatever they
are given: a photo that is already well lit comes out over-bright or washed out. Of the 90 unpaired
photos (measured on 160x220 copies), those with a mean above ``BRIGHT_INPUT_MEAN`` come out at means
of 0.68-0.95 with the shipped Zero-LEINR's released curves (``eval.py --curves released``) and
0.48-0.85 with the shipped ICLR (why: docs/weights.md). Zero-LEINR's adaptive curve strength (the
default, ``net.curve_strength``) tones such photos down, so they are named only for the other paths.
"""
import torch

BRIGHT_INPUT_MEAN = 0.35  # mean over pixels and channels, in [0, 1]; LOLv1 low images: 0.01-0.33
NAMES_SHOWN = 5


def is_bright(image: torch.Tensor) -> bool:
    """Whether ``image`` (3,H,W) in [0,1] is brighter on average than ``BRIGHT_INPUT_MEAN``."""
    return image.mean().item() > BRIGHT_INPUT_MEAN


def bright_inputs_note(names: list[str], total: int) -> str | None:
    """The message naming the inputs (``names``, of ``total``) that ``is_bright`` flagged, or None for none."""
    if not names:
        return None
    shown = ", ".join(names[:NAMES_SHOWN]) + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")
    return (f"{len(names)} of {total} inputs are not low-light (mean brightness above {BRIGHT_INPUT_MEAN}): "
            f"{shown}; the models are trained on dark photos and brighten these further (docs/weights.md)")
