"""core.ctf pinned against values computed by hand from cryoDRGN's formula.

gamma = 2 pi (-df lambda s^2 / 2 + Cs lambda^3 s^4 / 4) - phase_shift;  CTF = sqrt(1 - w^2) sin(gamma) - w cos(gamma)
df(angle) = (dfU + dfV + (dfU - dfV) cos(2 (angle - dfAng))) / 2;  lambda = 12.2639 / sqrt(V + 0.97845e-6 V^2) Å
"""

import math

import pytest
import torch

from napari_cryohype.core.ctf import compute_ctf, ctf_from_table, electron_wavelength

# 300 kV: V + 0.97845e-6 V^2 = 300000 + 88060.5 = 388060.5; 12.2639 / sqrt(388060.5) = 0.0196870 Å
LAMBDA_300 = 0.0196870


def ctf_at(kx, ky, dfu=15000.0, dfv=15000.0, dfang=0.0, volt=300.0, cs=2.7, w=0.1, phase=0.0, bfactor=None):
    freqs = torch.tensor([[kx, ky]], dtype=torch.float64)
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    return float(compute_ctf(freqs, t(dfu), t(dfv), t(dfang), t(volt), t(cs), t(w), t(phase), bfactor)[0])


def by_hand(s, df, w=0.1, phase_deg=0.0):
    lam, cs_a = 12.2639 / math.sqrt(300e3 + 0.97845e-6 * 300e3**2), 2.7e7
    gamma = 2 * math.pi * (-0.5 * df * lam * s**2 + 0.25 * cs_a * lam**3 * s**4) - math.radians(phase_deg)
    return math.sqrt(1 - w**2) * math.sin(gamma) - w * math.cos(gamma)


def test_electron_wavelength():
    assert electron_wavelength(300.0) == pytest.approx(LAMBDA_300, abs=1e-7)
    assert electron_wavelength(200.0) == pytest.approx(0.02508, abs=1e-5)  # textbook value


def test_value_at_dc_is_minus_w():
    assert ctf_at(0.0, 0.0, w=0.1) == pytest.approx(-0.1, abs=1e-12)
    assert ctf_at(0.0, 0.0, w=0.07) == pytest.approx(-0.07, abs=1e-12)


def test_value_at_a_known_frequency():
    """s = 0.1 /Å, df = 1.5 µm: gamma = 2 pi (-1.476523 + 0.005150) = -9.244905 rad, CTF = -0.079621."""
    assert by_hand(0.1, 15000) == pytest.approx(-0.0796210, abs=1e-6)
    assert ctf_at(0.1, 0.0) == pytest.approx(by_hand(0.1, 15000), abs=1e-9)
    assert ctf_at(0.0, -0.1) == pytest.approx(-0.0796210, abs=1e-6)  # isotropic: same in every direction


def test_phase_shift_in_degrees():
    """A 90° phase plate subtracts pi/2 from gamma: CTF = 0.996825 at the same frequency."""
    assert ctf_at(0.1, 0.0, phase=90.0) == pytest.approx(0.9968252, abs=1e-6)
    assert ctf_at(0.0, 0.0, phase=90.0) == pytest.approx(-math.sqrt(1 - 0.01), abs=1e-12)


def test_astigmatism_angle():
    """dfU acts along the direction dfAng (from +kx towards +ky), dfV perpendicular to it."""
    s = 0.08
    assert ctf_at(s, 0, dfu=20000, dfv=10000, dfang=0) == pytest.approx(by_hand(s, 20000), abs=1e-9)
    assert ctf_at(0, s, dfu=20000, dfv=10000, dfang=0) == pytest.approx(by_hand(s, 10000), abs=1e-9)
    assert ctf_at(0, s, dfu=20000, dfv=10000, dfang=90) == pytest.approx(by_hand(s, 20000), abs=1e-9)
    c = s / math.sqrt(2)
    assert ctf_at(c, c, dfu=20000, dfv=10000, dfang=45) == pytest.approx(by_hand(s, 20000), abs=1e-9)
    assert ctf_at(c, c, dfu=20000, dfv=10000, dfang=0) == pytest.approx(by_hand(s, 15000), abs=1e-9)


def test_bfactor_envelope():
    s = 0.1
    assert ctf_at(s, 0, bfactor=100.0) == pytest.approx(by_hand(s, 15000) * math.exp(-100 / 4 * s**2), abs=1e-9)


def test_table_rows_use_their_own_pixel_size():
    """0.2 cycles/pixel at 2 Å/pixel is 0.1 /Å; the D column is not used."""
    params = torch.tensor([[64, 2.0, 15000, 15000, 0, 300, 2.7, 0.1, 0],
                           [64, 4.0, 15000, 15000, 0, 300, 2.7, 0.1, 90]], dtype=torch.float64)
    freqs2d = torch.tensor([[0.2, 0.0], [0.0, 0.0]], dtype=torch.float64)
    out = ctf_from_table(params, freqs2d)
    assert out.shape == (2, 2)
    assert float(out[0, 0]) == pytest.approx(by_hand(0.1, 15000), abs=1e-9)
    assert float(out[1, 0]) == pytest.approx(by_hand(0.05, 15000, phase_deg=90.0), abs=1e-9)
    assert float(out[0, 1]) == pytest.approx(-0.1, abs=1e-12)
