"""Pretraining: recipes (config), positive-pair datasets, the loop, checkpoints, torchrun.

    from engine.train.config import load_config
    from engine.train.loop import train
    result = train(load_config("models/crossview_spatial.yaml", ["train.steps=50"]))

    from engine.train.checkpoint import load_model
    model = load_model("models/crossview_spatial")   # GeoModel, eval mode, never torch.load
"""
