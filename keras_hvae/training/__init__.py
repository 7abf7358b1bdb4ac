"""Training: recipes, `train_and_save`, JSON training configs and the data recipes use.

This layer imports the models; nothing under `keras_hvae/models/` imports it.
"""
