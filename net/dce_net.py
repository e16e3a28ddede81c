"""DCE-Net, one CPLEB branch of Zero-LEINR (spec §2): the unmodified Zero-DCE curve estimator."""
import torch
from torch import nn

NUM_ITERATIONS = 8


class DCENet(nn.Module):
    """Seven 3x3 convs (32 features, symmetric skip concatenations) predicting 8 LE curves.

    ``forward(x)``: x (B,3,H,W) in [0,1], any H and W ->
    ``(mid, enhanced, curves)``: ``mid`` (B,3,H,W) after 4 curve steps (unused by the method),
    ``enhanced`` (B,3,H,W) after 8 steps, ``curves`` (B,24,H,W) = r1..r8 in (-1,1).
    Each step is ``x <- x + r_k * (x^2 - x)``. State-dict keys ``e_conv1..e_conv7``.
    Constructed with the released initialisation (``init_dce_weights_``).
    """

    def __init__(self, n_feature: int = 32):
        super().__init__()
        f = n_feature
        self.relu = nn.ReLU(inplace=True)
        self.e_conv1 = nn.Conv2d(3, f, 3, 1, 1, bias=True)
        self.e_conv2 = nn.Conv2d(f, f, 3, 1, 1, bias=True)
        self.e_conv3 = nn.Conv2d(f, f, 3, 1, 1, bias=True)
        self.e_conv4 = nn.Conv2d(f, f, 3, 1, 1, bias=True)
        self.e_conv5 = nn.Conv2d(2 * f, f, 3, 1, 1, bias=True)
        self.e_conv6 = nn.Conv2d(2 * f, f, 3, 1, 1, bias=True)
        self.e_conv7 = nn.Conv2d(2 * f, 3 * NUM_ITERATIONS, 3, 1, 1, bias=True)
        init_dce_weights_(self)

    def curve_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The LE curves the network predicts for x (B,3,H,W) in [0,1] -> (B,24,H,W) in (-1,1)."""
        x1 = self.relu(self.e_conv1(x))
        x2 = self.relu(self.e_conv2(x1))
        x3 = self.relu(self.e_conv3(x2))
        x4 = self.relu(self.e_conv4(x3))
        x5 = self.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = self.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))

    def forward(self, x: torch.Tensor):
        curves = self.curve_maps(x)
        mid, enhanced = apply_le_curves(x, curves)
        return mid, enhanced, curves


def apply_le_curves(x: torch.Tensor, curves: torch.Tensor):
    """The 8 curve steps ``x <- x + r_k * (x^2 - x)`` on x (B,3,H,W) with curves (B,24,H,W) ->
    ``(mid, enhanced)``, the image after 4 and after 8 steps (B,3,H,W). With every ``r_k`` in [-1,1]
    each step maps [0,1] onto [0,1], monotonically."""
    mid = x
    for k, r in enumerate(torch.split(curves, 3, dim=1)):
        x = x + r * (torch.pow(x, 2) - x)
        if k == 3:
            mid = x
    return mid, x


@torch.no_grad()
def init_dce_weights_(net: nn.Module) -> nn.Module:
    """Released init: every conv weight ~ N(0, 0.02^2); biases keep PyTorch's default. Returns ``net``."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.normal_(0.0, 0.02)
    return net
