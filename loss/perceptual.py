"""VGG-19 perceptual loss ("P" in the ICLR objective, spec §4)."""
import os

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VGG19_Weights, vgg19

# Indices in torchvision's ``vgg19().features`` of conv1_2, conv2_2, conv3_4, conv4_4 (before ReLU).
FEATURE_LAYERS = (2, 7, 16, 25)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet backbone weights are neither cached nor downloadable."""


def load_vgg19_imagenet() -> nn.Module:
    """torchvision's VGG-19 with ImageNet weights, from the torch hub cache or downloaded into it."""
    weights = VGG19_Weights.IMAGENET1K_V1
    cache = os.path.join(torch.hub.get_dir(), "checkpoints")
    filename = os.path.basename(weights.url)
    try:
        return vgg19(weights=weights)
    except Exception as err:  # offline, proxy, truncated file ... all mean the same to the user
        raise PretrainedWeightsUnavailable(
            f"VGG-19 ImageNet weights '{filename}' are not in the torch cache '{cache}' and could not "
            f"be downloaded ({type(err).__name__}: {err}). Download {weights.url} into that folder "
            f"(or set TORCH_HOME), or train without the perceptual loss: --P_weight 0"
        ) from err


class VGGPerceptualLoss(nn.Module):
    """Sum over 4 VGG-19 layers of MSE between features of (B,3,H,W) images in [0,1] -> scalar.

    Like the released code, inputs are first mapped by ``(x + 1) / 2`` and then normalised with
    the ImageNet statistics. ``pretrained=False`` builds a random backbone (tests only).
    """

    def __init__(self, pretrained: bool = True):
        super().__init__()
        net = load_vgg19_imagenet() if pretrained else vgg19(weights=None)
        self.features = net.features[: FEATURE_LAYERS[-1] + 1].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.features.eval()
        return self

    def _features(self, x: torch.Tensor) -> list:
        x = ((x + 1) / 2 - self.mean) / self.std
        feats = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in FEATURE_LAYERS:
                feats.append(x)
        return feats

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa, fb = self._features(a), self._features(b.detach())
        return sum(F.mse_loss(x, y) for x, y in zip(fa, fb))
