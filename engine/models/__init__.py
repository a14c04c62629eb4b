"""The inference side of a model: its folder (config.yaml + model.safetensors, read once),
its input conventions (ImageNet normalisation of uint8 RGB) and the device it runs on.

Training (engine.train) builds on this package; nothing here imports engine.train.
"""
