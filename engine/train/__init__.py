"""Pretraining: recipes (config), positive-pair datasets, the loop, checkpoints, torchrun.

    from engine.train.config import load_config
    from engine.train.loop import train
    result = train(load_config("models/crossview_spatial.yaml", ["train.steps=50"]))

Loading the trained model is the inference side's job (engine.models.folder.load_model);
this package builds on engine.models, never the reverse.
"""
