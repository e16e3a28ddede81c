"""Parameter-free CPLEB fusion of Zero-LEINR (spec §1.1)."""
import torch
import torch.nn.functional as F


def magnitude_direction_fusion(magnitude_src: torch.Tensor, direction_src: torch.Tensor) -> torch.Tensor:
    """Per pixel ``||E1|| * E2 / max(||E2||, 1e-12)``, norms over the channel dim.

    Both (B,3,H,W); returns (B,3,H,W) with the RGB norm (brightness) of ``magnitude_src`` and the
    RGB direction (chromaticity) of ``direction_src``. Unclamped.
    """
    direction = F.normalize(direction_src, dim=1, eps=1e-12)
    magnitude = torch.linalg.vector_norm(magnitude_src, dim=1, keepdim=True)
    return magnitude * direction
