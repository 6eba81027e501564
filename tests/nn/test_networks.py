import math

import pytest
import torch

from pyrodisent.nn import NETWORKS, XTanh, build_network

CASES = [
    ("mlp", (5,), (10,)),
    ("mlp", (3, 4), (2, 6)),
    ("conv_encoder", (1, 64, 64), (20,)),
    ("conv_encoder", (3, 32, 32), (12,)),
    ("conv_decoder", (10,), (1, 64, 64)),
    ("conv_decoder", (6,), (3, 32, 32)),
    ("residual_encoder", (3, 64, 64), (8,)),
    ("residual_encoder", (1, 32, 32), (8,)),
    ("residual_decoder", (4,), (3, 64, 64)),
    ("residual_decoder", (4,), (1, 32, 32)),
]


@pytest.mark.parametrize("name,in_shape,out_shape", CASES)
def test_shapes_with_extra_batch_dims(name, in_shape, out_shape):
    net = build_network(name, in_shape, out_shape)
    assert net(torch.randn(2, *in_shape)).shape == (2, *out_shape)
    assert net(torch.randn(3, 2, *in_shape)).shape == (3, 2, *out_shape)


def test_conv_encoder_matches_the_study_layout():
    net = build_network("conv_encoder", (1, 64, 64), (20,))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert linears[0].out_features == 256 and linears[0].in_features == 64 * 4 * 4


def test_mlp_layers_and_activation():
    net = build_network("mlp", (5,), (3,), hidden=(100, 100), activation_name="xtanh")
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(5, 100), (100, 100), (100, 3)]
    assert sum(isinstance(m, XTanh) for m in net.modules()) == 2


def test_xtanh_values():
    x = torch.tensor([-2.0, 0.0, 3.0])
    assert torch.allclose(XTanh()(x), torch.tanh(x) + 0.1 * x)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"square channel-first images"):
        build_network("conv_encoder", (64, 64), (10,))
    net = build_network("mlp", (5,), (2,))
    with pytest.raises(ValueError, match=r"MLP expected inputs \(\.\.\., 5\)"):
        net(torch.randn(4, 6))


def test_registry_lists_all_networks():
    assert {"mlp", "conv_encoder", "conv_decoder", "residual_encoder", "residual_decoder"} <= set(NETWORKS.names())


def test_actnorm_standardises_its_first_batch_then_trains_and_its_state_round_trips():
    from pyrodisent.nn import ActNorm

    torch.manual_seed(0)
    x = 9.0 + 2.0 * torch.randn(256, 4) * torch.tensor([1.0, 0.5, 3.0, 1e-6])  # the last feature nearly constant
    norm = ActNorm(4)
    y = norm(x)
    assert torch.allclose(y[:, :3].mean(0), torch.zeros(3), atol=1e-4)
    assert torch.allclose(y[:, :3].std(0), torch.ones(3), atol=1e-4)
    # the nearly constant feature's sd is floored at min_scale: its noise is not blown up to unit variance
    assert float(norm.log_scale[3]) == pytest.approx(math.log(1e-3)) and float(y[:, 3].std()) < 0.01
    # a second batch does not re-initialise: the same map applies
    later = torch.randn(8, 4)
    assert torch.allclose(norm(later), (later - norm.shift) * torch.exp(-norm.log_scale))
    assert all(p.requires_grad for p in norm.parameters())
    restored = ActNorm(4)
    restored.load_state_dict(norm.state_dict())
    assert torch.equal(restored(later), norm(later))  # loaded state counts as initialised: no re-init on `later`
    with pytest.raises(ValueError, match=r"ActNorm expected inputs \(\.\.\., 4\)"):
        norm(torch.randn(3, 5))


def test_mlp_with_standardized_inputs_learns_faster_on_offset_inputs():
    """Inputs at 9 ± 1 (like log counts): 200 Adam steps of a regression reach a lower loss with the
    data-initialised standardisation than without, from the same initial weights (measured with data seeds
    0-4 and weight seeds 1-5: ratio 0.10-0.18; the assertion asks for 0.5)."""
    torch.manual_seed(0)
    x = 9.0 + torch.randn(512, 10)
    target = torch.tanh(x[:, :3] - 9.0).sum(-1, keepdim=True)
    losses = {}
    for standardize in (False, True):
        torch.manual_seed(1)
        net = build_network("mlp", (10,), (1,), hidden=(32, 32), standardize_inputs=standardize)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(200):
            optimizer.zero_grad()
            loss = ((net(x) - target) ** 2).mean()
            loss.backward()
            optimizer.step()
        losses[standardize] = float(loss.detach())
    assert losses[True] < 0.5 * losses[False]
