"""The model definition: the papers' tables, the layers, the one ``MobileNet`` module, the
preprocessing a model carries, and the names the registry knows.

Nothing here reads a file or a dataset; everything else in the package builds on it.
"""
