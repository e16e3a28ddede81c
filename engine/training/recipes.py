"""Named training recipes: presets layered between the config dataclasses' defaults and the command line.

A recipe maps ``train.py`` argument names (which equal the fields of ``ICLRTrainConfig`` /
``ZeroLEINRTrainConfig`` where such a field exists) to values. Resolution order, later wins:
the dataclass defaults (the released recipe), the recipe, the flags given on the command line.

- ``released``: the authors' recipe, unchanged (the default).
- ``cpu``: what 2 CPU cores can train in hours rather than weeks, differing from the released
  recipe only where that budget forces it (see docs/weights.md): ICLR on 128-pixel crops
  (the released 256-pixel batch needs ~18 GB and ~100 s a step on 2 cores), 30 epochs, no VGG
  perceptual term (its ImageNet weights are unavailable offline, and it would cost about as much
  as the network itself), channels_last and the fused MAFM in fp32 (the same function up to
  summation order, ~2.4x faster together), and
  no first epoch at lr 0 (the released warm-up starts with one; here it starts at base/3);
  Zero-LEINR on 128-pixel images in batches of 8 for 30 epochs, with training noise scaled to its
  low-light training set (Poisson λ ~ U(200, 2000) instead of U(5, 50): the released λ buries these
  images, mean brightness 0.06, in noise ~100x stronger than their own, so the denoiser learns
  nothing it can use in a CPU budget), the denoiser at Neighbor2Neighbor's own lr 3e-4 (released 1e-4)
  and initialised with plain Kaiming-normal weights (released: x0.1, which keeps its output grey for
  longer than a CPU run lasts), and each training image brightened by a random gain in [1, 8]
  (``brighten_max``; the released training mix has brighter and over-exposed images, which teach
  the curves to leave a well-lit photo alone; a set of dark images alone makes them wash such
  photos out).
- ``demo``: a few iterations on the bundled ``demo/`` pairs, to show the training loop working.

A recipe sets values, never a guard: ``--overwrite`` is the user's alone. A recipe in ``SCRATCH_RECIPES``
owns its ``run_dir`` instead: each of its runs replaces what the previous one left there, and only there.
"""

RECIPES = {
    "iclr": {
        "released": {},
        "cpu": dict(crop_size=128, epochs=30, snapshots=1, P_weight=0.0, perf="fast", amp="off",
                    cache_images=True, save_every_iters=10, skip_zero_lr_epoch=True),
        "demo": dict(epochs=2, snapshots=1, batch_size=2, crop_size=96, P_weight=0.0, max_iters_per_epoch=3,
                     run_dir="runs/demo", lpips=False, data_root="demo", dataset="lol_v1"),
    },
    "zero_leinr": {
        "released": {},
        "cpu": dict(patch_size=128, batch_size=8, epochs=30, workers=1, noisetype="poisson200_2000", lr_n2n=3e-4,
                    denoiser_init_scale=1.0, brighten_max=8.0),
        "demo": dict(epochs=2, batch_size=2, patch_size=64, max_iters_per_epoch=3, workers=0,
                     run_dir="runs/demo_zero_leinr", data_root="demo", dataset="lol_v1"),
    },
}

SCRATCH_RECIPES = frozenset({"demo"})


def layered(model: str, recipe: str, given: dict) -> dict:
    """The recipe's values for ``model`` overlaid by ``given`` (the flags present on the command line)."""
    return {**RECIPES[model][recipe], **given}
