import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from ganlib.codecs.gan import GanCodec
from ganlib.core import runtime
from ganlib.evaluation import metrics
from ganlib.formats import latent_format
from ganlib.inversion import invert
from ganlib.models import losses
from ganlib.models.checkpoints import fingerprint
from ganlib.models.nets import GanConfig, Generator, init_weights


def test_torch_ssim_matches_scikit_image(images):
    x, y = runtime.to_tensor(images[:4]), runtime.to_tensor(images[4:])
    ours = losses.ssim_parts(x, y)[0].numpy()
    ref = [structural_similarity(a[..., 0], b[..., 0], data_range=255) for a, b in zip(images[:4], images[4:])]
    assert ours == pytest.approx(ref, abs=1e-5)


def test_losses_are_zero_on_identical_images(images):
    x = runtime.to_tensor(images)
    for loss in losses.LOSSES:
        assert losses.image_loss(loss, x, x).abs().max() < 1e-5
    assert losses.ms_ssim_uniform(x, x.flip(0)).shape == (8,)
    with pytest.raises(ValueError, match="loss='foo'.*mse, l1, ssim, msssim"):
        losses.image_loss("foo", x, x)


def test_fake_quantize_matches_codec(rng):
    z = torch.from_numpy(rng.uniform(-3.5, 3.5, (4, 16)))
    for bits in (1, 3, 8):
        s, zq = invert.fake_quantize(z, bits, 3.0)
        assert np.array_equal(s.numpy(), latent_format.quantize(z.numpy(), bits, 3.0))
        assert np.allclose(zq.numpy(), latent_format.dequantize(s.numpy(), bits, 3.0))


def test_inverting_a_generated_image_recovers_it(small_generator):
    """Invert G(z*) for random z* of a fixed generator: PSNR > 30 dB."""
    z_true = torch.randn(4, 8, generator=torch.Generator().manual_seed(1)).clamp(-2, 2)
    with torch.no_grad():
        target = small_generator(z_true)
    config = invert.InversionConfig(loss="mse", steps=300, lr=0.05, restarts=4, seed=0)
    res = invert.invert(small_generator, target, config, progress=False, device="cpu")
    with torch.no_grad():
        found = runtime.to_uint8(small_generator(res.z))
    truth = runtime.to_uint8(target)
    assert min(metrics.psnr(a, b) for a, b in zip(truth, found)) > 30
    assert len(res.history) == 300 and res.history[-1] < res.history[0]


def test_lbfgs_recovers_generated_images_in_few_steps_and_never_goes_uphill(small_generator):
    """Per-image L-BFGS from one random start: G(z*) found to > 30 dB in 60 evaluations, each image's
    loss never increasing; the restarts path (R starts, the best after a tenth) runs too."""
    z_true = torch.randn(4, 8, generator=torch.Generator().manual_seed(1)).clamp(-2, 2)
    with torch.no_grad():
        target = small_generator(z_true)
    run = invert.lbfgs(lambda z: losses.image_loss("mse", small_generator(z), target), torch.zeros(4, 8), 0.1, 3.0)
    steps = [next(run) for _ in range(60)]
    z, values = steps[-1][0], [f.numpy() for _, f in steps]
    assert np.all(np.diff(np.stack(values), axis=0) <= 0)
    with torch.no_grad():
        found = runtime.to_uint8(small_generator(z))
    assert min(metrics.psnr(a, b) for a, b in zip(runtime.to_uint8(target), found)) > 30
    config = invert.InversionConfig(loss="mse", optimizer="lbfgs", steps=60, lr=0.1, restarts=3, seed=0)
    res = invert.invert(small_generator, target, config, progress=False, device="cpu")
    assert len(res.history) == 60 and res.z.shape == (4, 8) and res.z.abs().max() <= 3
    assert np.all(np.diff(res.history[6:]) <= 1e-7) and res.loss.mean() < 1e-3


def test_lbfgs_metric_is_its_initial_inverse_hessian():
    """On a quadratic 0.5 (z - c)^T A (z - c), a metric equal to A^-1 points the first step at the
    minimum, which backtracking then finds exactly; the identity does not."""
    A = torch.tensor([[4.0, 1.0], [1.0, 0.5]])
    c = torch.tensor([[0.3, -0.2]])
    quad = lambda z: 0.5 * (((z - c) @ A) * (z - c)).sum(1)  # noqa: E731

    def after(evaluations, metric=None):
        run = invert.lbfgs(quad, torch.zeros(1, 2), 10.0, 3.0, metric=metric)
        return [next(run) for _ in range(evaluations)][-1]

    z, f = after(4, torch.linalg.inv(A))
    assert torch.allclose(z, c, atol=1e-5) and f.item() < 1e-10
    assert after(4)[1].item() > 1e-4


def test_refinement_is_never_worse_than_rounding(small_generator, images):
    targets = runtime.to_tensor(images[:4])
    res = invert.invert(small_generator, targets, invert.InversionConfig(steps=30, restarts=1), progress=False,
                        device="cpu")
    _, rounded = invert.fake_quantize(res.z, 3, 3.0)
    with torch.no_grad():
        plain = losses.image_loss("ssim", small_generator(rounded), targets).numpy()
    symbols, refined = invert.refine(small_generator, targets, res.z, "ssim", 3, 3.0, steps=20, lr=0.5,
                                     device="cpu")
    assert symbols.shape == (4, 8) and np.all(refined <= plain + 1e-6)


def test_gan_codec_round_trip_and_wrong_generator(small_generator, images):
    with torch.no_grad():
        target = runtime.to_uint8(small_generator(torch.zeros(1, 8)))[0]
    gan = GanCodec(small_generator, 8, invert.InversionConfig(loss="mse", steps=50, restarts=1, refine_steps=5))
    blob = gan.encode(target)
    assert len(blob) <= 8 + 16
    decoded = gan.decode(blob)
    assert decoded.shape == (28, 28, 1) and np.array_equal(decoded, gan.decode(blob))
    f = gan.unpack(blob)
    with torch.no_grad():
        z = torch.from_numpy(latent_format.dequantize(f.symbols, 8, 3.0))[None]
        expected = runtime.to_uint8(small_generator(z))[0]
    assert np.array_equal(decoded, expected)
    other = Generator(GanConfig(latent_dim=8, width=8)).eval()
    torch.manual_seed(5)
    other.apply(init_weights)
    assert fingerprint(other) != gan.fingerprint
    with pytest.raises(latent_format.CodecError, match="another generator"):
        GanCodec(other).decode(blob)
    with pytest.raises(ValueError, match="images must be"):
        gan.encode(np.zeros((32, 32, 1), np.uint8))


@pytest.mark.parametrize("kwargs,name", [({"loss": "foo"}, "loss"), ({"steps": 0}, "steps"), ({"init": "zero"}, "init"),
                                         ({"optimizer": "sgd"}, "optimizer"),
                                         ({"init": "encoder", "restarts": 4}, "restarts"), ({"lr": 0}, "lr"),
                                         ({"refine_steps": -1}, "refine_steps"), ({"z_range": 0}, "z_range")])
def test_bad_parameters_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}="):
        invert.InversionConfig(**kwargs)


@pytest.mark.parametrize("bits", [17, [4, 0], [], "8"])
def test_bad_bit_depths_are_refused(bits):
    with pytest.raises(ValueError, match="bits"):
        invert.check_bits(bits)


def test_search_leaves_the_callers_generator_as_it_was(small_generator, images):
    small_generator.train()
    before = {k: v.clone() for k, v in small_generator.state_dict().items()}
    invert.invert(small_generator, runtime.to_tensor(images[:2]), invert.InversionConfig(steps=3, restarts=2),
                  progress=False, device="cpu")
    assert small_generator.training and all(p.requires_grad for p in small_generator.parameters())
    assert all(torch.equal(before[k], v) for k, v in small_generator.state_dict().items())


def test_one_search_serves_every_bit_depth(small_generator, images):
    gan = GanCodec(small_generator, 8, invert.InversionConfig(steps=20, restarts=1, refine_steps=3))
    files = gan.encode_depths(images[:3], [4, 8])
    assert files[8] == gan.encode_batch(images[:3])  # same seed, same search
    assert [gan.unpack(b).bits for b in files[4]] == [4, 4, 4]


def test_batched_decode_is_one_at_a_time_decode(small_generator, images):
    gan = GanCodec(small_generator)
    rng = np.random.default_rng(0)
    blobs = [gan.pack(s) for s in rng.integers(0, 256, (37, 8))]
    assert np.array_equal(gan.decode_batch(blobs), np.stack([gan.decode(b) for b in blobs]))
