import pytest
import torch

from pyrodisent.nn import build_network


@pytest.mark.parametrize("frame_network,frame_shape", [("mlp", (1, 8, 8)), ("conv_encoder", (1, 16, 16))])
def test_temporal_encoder_mixes_neighbouring_frames_only(frame_network, frame_shape):
    net = build_network("temporal_conv_encoder", (6, *frame_shape), (6, 9), frame_network=frame_network,
                        features=12, window=3)
    x = torch.randn(2, 6, *frame_shape)
    out = net(x)
    assert out.shape == (2, 6, 9) and net(x.unsqueeze(0)).shape == (1, 2, 6, 9)
    changed = x.clone()
    changed[:, 0] += 1.0  # frame 0 reaches outputs 0 and 1 only (window 3)
    moved = (net(changed) - out).abs().amax((0, 2))
    assert (moved[:2] > 0).all() and (moved[2:] == 0).all()


def test_framewise_decoder_applies_one_network_at_every_time():
    net = build_network("framewise_decoder", (3, 5), (5, 1, 16, 16), frame_network="conv_decoder")
    z = torch.randn(2, 3, 5)
    out = net(z)
    assert out.shape == (2, 5, 1, 16, 16)
    torch.testing.assert_close(out[:, 2], net.frame_network(z[..., 2]))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"\(T, P\)"):
        build_network("temporal_conv_encoder", (6, 4), (5, 3))
    with pytest.raises(ValueError, match="odd"):
        build_network("temporal_conv_encoder", (6, 4), (6, 3), window=2)
