"""DCGAN-family generator, discriminator and encoder for square images of side 28, 32, 64 or 128.

One more stride-2 block per doubling of the side: 28 px grows from 7 x 7 (two blocks), 32, 64
and 128 px from 4 x 4 (three, four and five blocks); the widest layer has ``width * 2**(n_up - 1)``
channels.

Images are float tensors ``(B, C, S, S)`` in [-1, 1]; latents are ``(B, latent_dim)``
drawn from N(0, I) in training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ganlib.core import params
from ganlib.data.datasets import CHANNELS, IMAGE_SIZES  # the sides and channel counts the family supports


@dataclass(frozen=True)
class GanConfig:
    latent_dim: int = 64
    width: int = 64  # channels of the last hidden layer; doubles at each coarser scale
    image_size: int = 28
    channels: int = 1

    def __post_init__(self):
        params.int_range("latent_dim", self.latent_dim, 1, 4096)
        params.int_range("width", self.width, 1, 4096)
        params.choice("image_size", self.image_size, IMAGE_SIZES)
        params.choice("channels", self.channels, CHANNELS)

    @property
    def base(self) -> int:
        """Side of the coarsest feature map: 7 for 28 px, else 4."""
        return 7 if self.image_size == 28 else 4

    @property
    def n_up(self) -> int:
        """Number of stride-2 stages between ``base`` and ``image_size``."""
        return (self.image_size // self.base).bit_length() - 1

    def to_dict(self) -> dict:
        return asdict(self)


class Generator(nn.Module):
    """z (B, latent_dim) -> image (B, C, S, S) in [-1, 1]."""

    def __init__(self, config: GanConfig):
        super().__init__()
        self.config = config
        c, b = config.width * 2 ** (config.n_up - 1), config.base
        self.project = nn.Sequential(  # (B, latent) -> (B, c * b * b)
            nn.Linear(config.latent_dim, c * b * b, bias=False), nn.BatchNorm1d(c * b * b), nn.ReLU(True))
        layers: list[nn.Module] = []
        for _ in range(config.n_up - 1):  # (B, c, s, s) -> (B, c/2, 2s, 2s)
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, config.channels, 4, 2, 1), nn.Tanh()]  # -> (B, C, S, S)
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, b = self.config.width * 2 ** (self.config.n_up - 1), self.config.base
        return self.body(self.project(z).view(-1, c, b, b))


class Discriminator(nn.Module):
    """image (B, C, S, S) in [-1, 1] -> logit (B,). ``outputs`` sizes the linear head (the
    encoder reuses this body with a head onto z)."""

    def __init__(self, config: GanConfig, outputs: int = 1):
        super().__init__()
        c = config.width
        layers: list[nn.Module] = [nn.Conv2d(config.channels, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # -> S/2
        for _ in range(config.n_up - 1):  # (B, c, s, s) -> (B, 2c, s/2, s/2)
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2, True)]
            c *= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c * config.base * config.base, outputs)  # (B, c * b * b) -> (B, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1)).squeeze(1)


class Encoder(Discriminator):
    """image (B, C, S, S) in [-1, 1] -> latent guess (B, latent_dim): the discriminator's body
    (stride-2 convolutions, batch norm, leaky ReLU) with a linear head onto z. It amortizes the
    latent search: its output is where the search starts, and its buffer ``metric``
    (latent_dim, latent_dim), set by :func:`ganlib.models.encoder.fit_metric`, preconditions the search's
    L-BFGS steps from there (the identity until it is set)."""

    def __init__(self, config: GanConfig):
        super().__init__(config, outputs=config.latent_dim)
        self.config = config
        self.register_buffer("metric", torch.eye(config.latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) for conv/linear, N(1, 0.02) for batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
