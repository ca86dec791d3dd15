"""CryoHype's networks: encoders, the INR, hypernetwork and concat conditioning, presets."""

from .model import Condition, CryoHypeModel
from .presets import PRESETS, preset

__all__ = ["Condition", "CryoHypeModel", "PRESETS", "preset"]
