"""Trained-like statistics for random-weight models: export checks need logits with a real scale."""

from __future__ import annotations

import torch
from torch import nn

from mobilenets.models.uib import LayerScale


def randomize_batchnorm(model: nn.Module, weight_spread: float = 0.5) -> torch.Generator:
    """Give every BN non-trivial statistics and affine parameters, as a trained model has, and
    every LayerScale gammas of a trained V4 hybrid (they grow from 1e-5 to O(0.1-1)).

    One generator, seeded 0, draws in module order, so a model gets the same values every run;
    it is returned, to draw whatever else the caller randomises.
    """
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) * 2 + 0.1)
            module.weight.data.copy_(torch.randn(n, generator=generator) * weight_spread + 1)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.2)
        elif isinstance(module, LayerScale):
            module.gamma.data.copy_(torch.rand(module.gamma.shape, generator=generator) * 0.5 + 0.1)
    return generator
