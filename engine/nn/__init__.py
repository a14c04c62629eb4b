"""Neural network parts: image backbones, location and time encoders, heads, and GeoModel.

Components are chosen by name through the registries in `engine.nn.registry`. `GeoModel` is
exported lazily so that importing the registries stays light.
"""

from typing import Any

__all__ = ["GeoModel"]


def __getattr__(name: str) -> Any:
    if name == "GeoModel":
        from engine.nn.model import GeoModel

        return GeoModel
    raise AttributeError(f"module 'engine.nn' has no attribute {name!r}")
