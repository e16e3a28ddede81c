"""ENRB denoiser of Zero-LEINR (spec §3): the Neighbor2Neighbor U-Net with default settings."""
import torch
from torch import nn

DOWNSCALE = 32  # five 2x poolings
RELEASED_INIT_SCALE = 0.1  # the released init multiplies the Kaiming-normal weights by this


class _UpsampleCat(nn.Module):
    """2x2 stride-2 transposed conv (with bias), then ``cat([upsampled, skip], dim=1)``."""

    def __init__(self, in_nc: int, out_nc: int):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_nc, out_nc, 2, 2, 0, 0)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.deconv(x), skip], dim=1)


class N2NUNet(nn.Module):
    """U-Net mapping a noisy image to a clean one, no input residual, linear output.

    ``forward(x)``: x (B,in_nc,H,W) with H and W multiples of 32 -> (B,out_nc,H,W), unclamped.
    LeakyReLU(0.2) everywhere except the last 1x1 conv. Weights are Kaiming-normal (fan_in, a=0)
    times ``RELEASED_INIT_SCALE`` and biases 0 (``init_n2n_weights_``), applied at construction.
    """

    def __init__(self, in_nc: int = 3, out_nc: int = 3, n_feature: int = 48):
        super().__init__()
        f = n_feature
        self.act = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.enc_conv0 = nn.Conv2d(in_nc, f, 3, 1, 1)
        self.enc_conv1 = nn.Conv2d(f, f, 3, 1, 1)
        self.enc_conv2 = nn.Conv2d(f, f, 3, 1, 1)
        self.enc_conv3 = nn.Conv2d(f, f, 3, 1, 1)
        self.enc_conv4 = nn.Conv2d(f, f, 3, 1, 1)
        self.enc_conv5 = nn.Conv2d(f, f, 3, 1, 1)
        self.enc_conv6 = nn.Conv2d(f, f, 3, 1, 1)
        self.up5 = _UpsampleCat(f, f)
        self.dec_conv5a = nn.Conv2d(2 * f, 2 * f, 3, 1, 1)
        self.dec_conv5b = nn.Conv2d(2 * f, 2 * f, 3, 1, 1)
        self.up4 = _UpsampleCat(2 * f, 2 * f)
        self.dec_conv4a = nn.Conv2d(3 * f, 2 * f, 3, 1, 1)
        self.dec_conv4b = nn.Conv2d(2 * f, 2 * f, 3, 1, 1)
        self.up3 = _UpsampleCat(2 * f, 2 * f)
        self.dec_conv3a = nn.Conv2d(3 * f, 2 * f, 3, 1, 1)
        self.dec_conv3b = nn.Conv2d(2 * f, 2 * f, 3, 1, 1)
        self.up2 = _UpsampleCat(2 * f, 2 * f)
        self.dec_conv2a = nn.Conv2d(3 * f, 2 * f, 3, 1, 1)
        self.dec_conv2b = nn.Conv2d(2 * f, 2 * f, 3, 1, 1)
        self.up1 = _UpsampleCat(2 * f, 2 * f)
        self.dec_conv1a = nn.Conv2d(2 * f + in_nc, 2 * f, 3, 1, 1)
        self.dec_conv1b = nn.Conv2d(2 * f, 2 * f, 3, 1, 1)
        self.nin_a = nn.Conv2d(2 * f, 2 * f, 1)
        self.nin_b = nn.Conv2d(2 * f, 2 * f, 1)
        self.nin_c = nn.Conv2d(2 * f, out_nc, 1)
        init_n2n_weights_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % DOWNSCALE or w % DOWNSCALE:
            raise ValueError(f"N2NUNet needs H and W divisible by {DOWNSCALE}, got {h}x{w}; pad the input first")
        skip0 = x
        x = self.act(self.enc_conv0(x))
        x = self.act(self.enc_conv1(x))
        skip1 = x = self.pool(x)
        x = self.act(self.enc_conv2(x))
        skip2 = x = self.pool(x)
        x = self.act(self.enc_conv3(x))
        skip3 = x = self.pool(x)
        x = self.act(self.enc_conv4(x))
        skip4 = x = self.pool(x)
        x = self.act(self.enc_conv5(x))
        x = self.pool(x)
        x = self.act(self.enc_conv6(x))
        x = self.up5(x, skip4)
        x = self.act(self.dec_conv5a(x))
        x = self.act(self.dec_conv5b(x))
        x = self.up4(x, skip3)
        x = self.act(self.dec_conv4a(x))
        x = self.act(self.dec_conv4b(x))
        x = self.up3(x, skip2)
        x = self.act(self.dec_conv3a(x))
        x = self.act(self.dec_conv3b(x))
        x = self.up2(x, skip1)
        x = self.act(self.dec_conv2a(x))
        x = self.act(self.dec_conv2b(x))
        x = self.up1(x, skip0)
        x = self.act(self.dec_conv1a(x))
        x = self.act(self.dec_conv1b(x))
        x = self.act(self.nin_a(x))
        x = self.act(self.nin_b(x))
        return self.nin_c(x)


@torch.no_grad()
def init_n2n_weights_(net: nn.Module, scale: float = RELEASED_INIT_SCALE) -> nn.Module:
    """Conv / transposed-conv weights Kaiming-normal (fan_in, a=0) times ``scale``, biases 0. The
    released ``scale`` 0.1 starts the U-Net at a near-constant output: trained to reproduce its own
    input it still gave a flat grey after 300 iterations, with 1.0 it learned that in ~75 (docs/weights.md)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, a=0)
            m.weight.mul_(scale)
            if m.bias is not None:
                m.bias.zero_()
    return net
