"""Cost: the exact Mult-Adds and parameters of any model, per layer and per kind of layer, the
papers' published tables as data, their reproduction, the separable-versus-standard comparison,
and the figures drawn from them.
"""
