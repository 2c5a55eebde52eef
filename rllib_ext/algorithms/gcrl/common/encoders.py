"""Image encoders of the offline family: the official ``impls/utils/encoders.py`` ``ImpalaEncoder`` in PyTorch.

Input ``[B, H, W, C]`` images (uint8, or floats on the same 0..255 scale), the layout of OGBench's pixel
observations; the encoder divides by 255 itself, so batches stay uint8 up to here. Per stack of width ``c``:
a 3x3 ``SAME`` convolution, a 3x3 stride-2 ``SAME`` max-pool, then ``num_blocks`` residual blocks
``x + conv(relu(conv(relu(x))))``; after the stacks ``relu``, an optional LayerNorm over the channels, the
flattening in height-width-channel order (so flax kernels transfer unchanged), and an MLP
``Dense -> GELU [-> LayerNorm]`` per entry of ``mlp_hidden_dims``. Convolution kernels Glorot-uniform, biases
zero (flax's defaults; PyTorch's would be uniform biases).

flax's ``SAME`` max-pool pads with -inf by ``total = max((ceil(n/2) - 1) * 2 + 3 - n, 0)`` per axis, ``total // 2``
before and the rest after: 0 before and 1 after on even sizes (64 -> 32 -> 16 -> 8). ``MaxPool2d(3, 2,
padding=1)`` pads 1 on both sides and shifts every window by one pixel; ``same_max_pool`` pads as flax.

``ENCODERS`` is the official ``encoder_modules`` registry; a config's ``encoder`` names one of them.
"""

import functools
import math
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from rllib_ext.algorithms.gcrl.common.networks import LAYER_NORM_EPS, gelu, glorot_linear


def same_pads(size: int, window: int = 3, stride: int = 2) -> Tuple[int, int]:
    """``(before, after)`` padding of flax/lax ``SAME`` pooling along an axis of ``size``."""
    total = max((math.ceil(size / stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def same_max_pool(x: torch.Tensor, window: int = 3, stride: int = 2) -> torch.Tensor:
    """flax ``nn.max_pool(x, (window, window), strides=(stride, stride), padding='SAME')`` on ``[B, C, H, W]``."""
    top, bottom = same_pads(x.shape[-2], window, stride)
    left, right = same_pads(x.shape[-1], window, stride)
    x = F.pad(x, (left, right, top, bottom), value=-math.inf)
    return F.max_pool2d(x, window, stride)


def glorot_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 stride-1 ``SAME`` convolution (padding 1), Glorot-uniform kernel, zero bias."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
    nn.init.xavier_uniform_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ResnetStack(nn.Module):
    """Convolution, ``SAME`` max-pool, then ``num_blocks`` two-convolution residual blocks (``ResnetStack``)."""

    def __init__(self, in_channels: int, channels: int, num_blocks: int):
        super().__init__()
        self.conv = glorot_conv(in_channels, channels)
        self.blocks = nn.ModuleList(
            nn.ModuleList([glorot_conv(channels, channels), glorot_conv(channels, channels)]) for _ in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = same_max_pool(self.conv(x))
        for first, second in self.blocks:
            x = x + second(F.relu(first(F.relu(x))))
        return x


class ImpalaEncoder(nn.Module):
    """The official ``ImpalaEncoder`` (defaults: its class defaults, ``num_blocks=2``); ``[B, H, W, C] -> [B, F]``.

    ``dropout_rate`` is applied after every stack in training mode only (``train=True`` in the official call,
    which the agents never turn off; ``eval()`` here turns it off).
    """

    def __init__(
        self,
        input_shape: Tuple[int, ...],
        *,
        width: int = 1,
        stack_sizes: Sequence[int] = (16, 32, 32),
        num_blocks: int = 2,
        dropout_rate: Optional[float] = None,
        mlp_hidden_dims: Sequence[int] = (512,),
        layer_norm: bool = False,
    ):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"ImpalaEncoder needs [height, width, channels] images, got input shape {input_shape}")
        height, wide, channels = input_shape
        stacks = []
        for size in stack_sizes:
            stacks.append(ResnetStack(channels, size * width, num_blocks))
            channels = size * width
            height, wide = math.ceil(height / 2), math.ceil(wide / 2)
        self.stacks = nn.ModuleList(stacks)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate is not None else None
        self.conv_norm = nn.LayerNorm(channels, eps=LAYER_NORM_EPS) if layer_norm else None
        dims = [height * wide * channels, *mlp_hidden_dims]
        self.mlp = nn.ModuleList(glorot_linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.mlp_norms = nn.ModuleList(
            nn.LayerNorm(d, eps=LAYER_NORM_EPS) if layer_norm else nn.Identity() for d in mlp_hidden_dims
        )
        self.out_dim = dims[-1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.mlp[0].weight.dtype if len(self.mlp) else torch.float32) / 255.0
        x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW for the convolutions
        for stack in self.stacks:
            x = stack(x)
            if self.dropout is not None:
                x = self.dropout(x)
        x = F.relu(x).permute(0, 2, 3, 1)  # back to NHWC: LayerNorm over channels, flax's flatten order
        if self.conv_norm is not None:
            x = self.conv_norm(x)
        x = x.flatten(1)
        for layer, norm in zip(self.mlp, self.mlp_norms):
            x = norm(gelu(layer(x)))
        return x


EncoderFactory = Callable[[Tuple[int, ...]], nn.Module]

ENCODERS: Dict[str, EncoderFactory] = {
    "impala": ImpalaEncoder,
    "impala_debug": functools.partial(ImpalaEncoder, num_blocks=1, stack_sizes=(4, 4)),
    "impala_small": functools.partial(ImpalaEncoder, num_blocks=1),
    "impala_large": functools.partial(ImpalaEncoder, stack_sizes=(64, 128, 128), mlp_hidden_dims=(1024,)),
}
"""The official ``encoder_modules`` by name; each maps an input shape ``(H, W, C)`` to a module."""


def encoder_factory(encoder: Union[None, str, EncoderFactory]) -> Optional[EncoderFactory]:
    """The factory a config's ``encoder`` setting names (a key of ``ENCODERS``, a callable, or None)."""
    if encoder is None or callable(encoder):
        return encoder
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; known encoders: {sorted(ENCODERS)}")
    return ENCODERS[encoder]
