"""The ICLR network: a two-stream (HV and I) U-Net of DIEM blocks in HVI space (ICLR spec §3)."""
import torch
from torch import nn

from .cdem import CDEMBlock
from .hvi import HVITransform
from .mafm import MAFM
from .padding import EdgePad2d, reflect_pad_bottom_right
from .resample import NormDownsample, NormUpsample

# Three x0.5 resizes need sides divisible by 8; the 7x7 reflect-padded convs of MAFM need the
# deepest level (side / 8) to be at least 4 pixels.
SIZE_MULTIPLE = 8
MIN_SIDE = 32


def _stem(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(EdgePad2d(), nn.Conv2d(in_ch, out_ch, 3, bias=False))


def padded_size(side: int) -> int:
    """Smallest side >= ``side`` (and >= 32) that is a multiple of 8.

    Written as a multiple of 8 times ``torch.sym_max``, which is ``max`` on ints and keeps ``side``
    symbolic in an ONNX export (``engine.inference.onnx_export.ICLRGraph``: one graph for every size).
    """
    return SIZE_MULTIPLE * torch.sym_max((side + SIZE_MULTIPLE - 1) // SIZE_MULTIPLE, MIN_SIDE // SIZE_MULTIPLE)


class ICLR(nn.Module):
    """RGB (B,3,H,W) in [0,1] -> enhanced RGB (B,3,H,W); ``ICLR()`` is the released configuration.

    ``forward(x, saturation_gain=1.0, alpha=1.0)``: the two test-time switches of the inverse
    HVI transform (LOLv1 evaluation: ``saturation_gain=1.3``; LOLv2-Real: ``alpha=0.84``).
    Images whose sides are multiples of 8 (and at least 32) run exactly as the released model;
    others are reflect-padded at the bottom/right to such a size and cropped back.
    """

    def __init__(self, channels=(36, 36, 72, 144), heads=(1, 2, 4, 8)):
        super().__init__()
        ch1, ch2, ch3, ch4 = channels
        _, head2, head3, head4 = heads

        self.HVE_block0 = _stem(2, ch1)
        self.HVE_block1 = NormDownsample(ch1, ch2)
        self.HVE_block2 = NormDownsample(ch2, ch3)
        self.HVE_block3 = NormDownsample(ch3, ch4)
        self.HVD_block3 = NormUpsample(ch4, ch3)
        self.HVD_block2 = NormUpsample(ch3, ch2)
        self.HVD_block1 = NormUpsample(ch2, ch1)
        self.HVD_block0 = _stem(ch1, 2)

        self.IE_block0 = _stem(1, ch1)
        self.IE_block1 = NormDownsample(ch1, ch2)
        self.IE_block2 = NormDownsample(ch2, ch3)
        self.IE_block3 = NormDownsample(ch3, ch4)
        self.ID_block3 = NormUpsample(ch4, ch3)
        self.ID_block2 = NormUpsample(ch3, ch2)
        self.ID_block1 = NormUpsample(ch2, ch1)
        self.ID_block0 = _stem(ch1, 1)

        dims = [(ch2, head2), (ch3, head3), (ch4, head4), (ch4, head4), (ch3, head3), (ch2, head2)]
        for i, (dim, n_heads) in enumerate(dims, start=1):
            setattr(self, f"CDEM_HV{i}", CDEMBlock(dim, n_heads))
            setattr(self, f"CDEM_I{i}", CDEMBlock(dim, n_heads))

        self.trans = HVITransform()
        self.fusion1 = MAFM(ch1)
        self.fusion2 = MAFM(ch2)
        self.fusion3 = MAFM(ch3)
        self.fusion4 = MAFM(ch4)

    def HVIT(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB -> HVI with the model's ``density_k`` (used by the training losses)."""
        return self.trans(rgb)

    def forward(self, x: torch.Tensor, saturation_gain: float = 1.0, alpha: float = 1.0) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = padded_size(h), padded_size(w)
        if (ph, pw) != (h, w):
            x = reflect_pad_bottom_right(x, ph, pw)
        out = self._forward_aligned(x, saturation_gain, alpha)
        return out[..., :h, :w]

    def _forward_aligned(self, x: torch.Tensor, saturation_gain: float, alpha: float) -> torch.Tensor:
        """The released forward pass, for sides that are multiples of 8 and >= 32."""
        hvi = self.trans(x)
        hv_in, i_in = hvi[:, 0:2].to(x.dtype), hvi[:, 2:3].to(x.dtype)

        i0 = self.IE_block0(i_in)
        h0 = self.fusion1(self.HVE_block0(hv_in), i0)
        i1 = self.IE_block1(i0)
        h1 = self.fusion2(self.HVE_block1(h0), i1)
        skip_i0, skip_h0 = i0, h0

        a = self.CDEM_I1(i1, h1)
        b = self.fusion2(self.CDEM_HV1(h1, i1), a)
        skip_i1, skip_h1 = a, b

        i2 = self.IE_block2(a)
        h2 = self.fusion3(self.HVE_block2(b), i2)
        a = self.CDEM_I2(i2, h2)
        b = self.fusion3(self.CDEM_HV2(h2, i2), a)
        skip_i2, skip_h2 = a, b

        # Released wiring: the deepest stage starts from i2 / h2, not from the CDEM outputs.
        i3 = self.IE_block3(i2)
        h3 = self.fusion4(self.HVE_block3(h2), i3)
        a = self.CDEM_I3(i3, h3)
        b = self.fusion4(self.CDEM_HV3(h3, i3), a)

        d4 = self.CDEM_I4(a, b)
        e4 = self.fusion4(self.CDEM_HV4(b, a), d4)

        e3 = self.HVD_block3(e4, skip_h2)
        d3 = self.ID_block3(d4, skip_i2)
        e3 = self.fusion3(e3, d3)
        a = self.CDEM_I5(d3, e3)
        b = self.fusion3(self.CDEM_HV5(e3, d3), a)

        e2 = self.HVD_block2(b, skip_h1)
        d2 = self.ID_block2(d3, skip_i1)  # released wiring: d3, not the CDEM_I5 output
        e2 = self.fusion2(e2, d2)
        a = self.CDEM_I6(d2, e2)
        b = self.fusion2(self.CDEM_HV6(e2, d2), a)

        d1 = self.ID_block1(a, skip_i0)
        e1 = self.fusion1(self.HVD_block1(b, skip_h0), d1)

        out_hvi = torch.cat([self.HVD_block0(e1), self.ID_block0(d1)], dim=1) + hvi
        return self.trans.inverse(out_hvi, saturation_gain=saturation_gain, alpha=alpha)
