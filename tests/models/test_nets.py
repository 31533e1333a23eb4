import pytest
import torch

from ganlib.models.nets import Discriminator, GanConfig, Generator


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(size, channels):
    cfg = GanConfig(latent_dim=10, width=4, image_size=size, channels=channels)
    G, D = Generator(cfg), Discriminator(cfg)
    x = G(torch.randn(3, 10))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (3,)


@pytest.mark.parametrize("field,value", [("image_size", 48), ("channels", 2), ("latent_dim", 0)])
def test_bad_config_names_the_parameter(field, value):
    with pytest.raises(ValueError, match=field):
        GanConfig(**{field: value})
