"""Neural network parts: image backbones, location and time encoders, heads, and GeoModel.

Components are chosen by name through the registries in `engine.nn.registry`.
"""
