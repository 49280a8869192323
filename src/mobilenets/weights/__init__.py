"""Weights: the mobilenets file format and its checks, safe reading of foreign files, which config
fits a state dict, the torchvision / timm / Keras converters, the catalog of official weights and
their download, and ``create_model``, the one way to get a model from any source.
"""
