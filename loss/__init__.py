"""Training losses of ICLR and Zero-LEINR."""
from .ccl import CCL
from .edge_loss import EdgeLoss
from .iclr_objective import ICLRObjective
from .perceptual import PretrainedWeightsUnavailable, VGGPerceptualLoss
from .ssim_loss import SSIMLoss
from .neighbor2neighbor import draw_pair_choice, generate_subimages, neighbor2neighbor_loss
from .training_noise import TrainingNoise
from .zero_dce_losses import (ColorAngleLoss, ColorConstancyLoss, CPLEBBranchLoss, ExposureControlLoss,
                              IlluminationSmoothnessLoss, SpatialConsistencyLoss)

__all__ = [
    "CCL", "EdgeLoss", "ICLRObjective", "PretrainedWeightsUnavailable", "VGGPerceptualLoss", "SSIMLoss",
    "draw_pair_choice", "generate_subimages", "neighbor2neighbor_loss", "TrainingNoise",
    "ColorAngleLoss", "ColorConstancyLoss", "CPLEBBranchLoss", "ExposureControlLoss", "IlluminationSmoothnessLoss",
    "SpatialConsistencyLoss",
]
