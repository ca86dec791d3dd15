import numpy as np
import pytest
import torch


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def asymmetric_volume(D: int, sigma: float = 1.5) -> torch.Tensor:
    """A (D, D, D) float64 volume of three unequal Gaussian blobs placed with no symmetry, (z, y, x)."""
    r = torch.arange(D, dtype=torch.float64) - D // 2
    z, y, x = torch.meshgrid(r, r, r, indexing="ij")
    vol = torch.zeros(D, D, D, dtype=torch.float64)
    for (cx, cy, cz), amp in [((5, 0, 0), 1.0), ((0, -3, 1), 2.0), ((-2, 2, 4), 3.0)]:
        vol += amp * torch.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * sigma**2))
    return vol
