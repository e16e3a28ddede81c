"""HVI colour transform (ICLR spec §1): RGB <-> (H, V, I) with one learnable density ``k``."""
import torch
from torch import nn

EPS = 1e-8
PI = 3.141592653589793


def _color_sensitivity(value: torch.Tensor, k) -> torch.Tensor:
    """``(sin(v*pi/2) + eps) ** k``; ``value`` (B,H,W) in [0,1], ``k`` a tensor or float."""
    return (torch.sin(value * (PI / 2.0)) + EPS) ** k


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Standard HSV->RGB for (B,H,W) tensors in [0,1]; pixels of no valid sector stay 0."""
    sector = torch.floor(h * 6.0)
    f = h * 6.0 - sector
    p = v * (1.0 - s)
    q = v * (1.0 - f * s)
    t = v * (1.0 - (1.0 - f) * s)
    zero = torch.zeros_like(v)
    # (r, g, b) per sector 0..5
    table = ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))
    channels = []
    for c in range(3):
        out = zero
        for i, rgb in enumerate(table):
            out = torch.where(sector == i, rgb[c], out)
        channels.append(out)
    return torch.stack(channels, dim=1)


class HVITransform(nn.Module):
    """RGB <-> HVI colour space with the learnable ``density_k`` (shape [1], init 0.2).

    ``forward(rgb)`` (B,3,H,W) RGB in [0,1] -> (B,3,H,W) HVI, channels (H, V, I) with
    H, V in [-1,1] and I in [0,1]. ``inverse(hvi, saturation_gain, alpha)`` maps back to RGB.

    The math always runs in float32, also under ``torch.autocast``. The inverse uses a
    detached copy of ``density_k`` (the released code remembers it as a Python float at the
    latest forward call, which holds the same value).
    """

    def __init__(self, density_k: float = 0.2):
        super().__init__()
        self.density_k = nn.Parameter(torch.full([1], density_k))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=rgb.device.type, enabled=False):
            rgb = rgb.float()
            r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
            value = rgb.max(dim=1)[0]
            vmin = rgb.min(dim=1)[0]
            chroma = value - vmin + EPS
            # Later rules win in the released mask assignments: grey > red > green > blue.
            hue = torch.zeros_like(value)
            hue = torch.where(b == value, 4.0 + (r - g) / chroma, hue)
            hue = torch.where(g == value, 2.0 + (b - r) / chroma, hue)
            hue = torch.where(r == value, ((g - b) / chroma) % 6, hue)
            hue = torch.where(vmin == value, torch.zeros_like(hue), hue)
            hue = hue / 6.0
            sat = (value - vmin) / (value + EPS)
            sat = torch.where(value == 0, torch.zeros_like(sat), sat)
            c = _color_sensitivity(value, self.density_k.float())
            angle = 2.0 * PI * hue
            h_chan = c * sat * torch.cos(angle)
            v_chan = c * sat * torch.sin(angle)
            return torch.stack([h_chan, v_chan, value], dim=1)

    def inverse(self, hvi: torch.Tensor, saturation_gain: float = 1.0, alpha: float = 1.0) -> torch.Tensor:
        """(B,3,H,W) HVI -> (B,3,H,W) RGB in [0, alpha].

        ``saturation_gain`` multiplies the recovered saturation (1.3 for the LOLv1 evaluation,
        1.0 = off); ``alpha`` scales the output (0.84 for LOLv2-Real, 1.0 = off).
        """
        with torch.autocast(device_type=hvi.device.type, enabled=False):
            hvi = hvi.float()
            h_chan = torch.clamp(hvi[:, 0], -1, 1)
            v_chan = torch.clamp(hvi[:, 1], -1, 1)
            value = torch.clamp(hvi[:, 2], 0, 1)
            c = _color_sensitivity(value, self.density_k.detach().float()) + EPS
            h_chan = torch.clamp(h_chan / c, -1, 1)
            v_chan = torch.clamp(v_chan / c, -1, 1)
            hue = (torch.atan2(v_chan + EPS, h_chan + EPS) / (2 * PI)) % 1
            sat = torch.sqrt(h_chan ** 2 + v_chan ** 2 + EPS)
            if saturation_gain != 1.0:
                sat = sat * saturation_gain
            sat = torch.clamp(sat, 0, 1)
            value = torch.clamp(value, 0, 1)
            rgb = _hsv_to_rgb(hue, sat, value)
            if alpha != 1.0:
                rgb = rgb * alpha
            return rgb
