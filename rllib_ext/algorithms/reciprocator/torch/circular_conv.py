"""A circular 'same' convolution on a small torus, run as one matrix product.

The Coin Game networks (the conv + GRU policy and the transition estimator's value net) convolve
3x3 toroidal grids with a kernel as large as the grid. ``nn.Conv2d`` with ``padding_mode="circular"``
pads every image and runs a tiny convolution, which on a CPU costs about 6x more (forward plus
backward) than the same linear map written as a dense ``[C_out*H*W, C_in*H*W]`` matrix built from the
kernel. ``CircularConv2d`` is an ``nn.Conv2d`` (same parameters, initialisation and state-dict keys)
whose forward builds that matrix from its weight and applies it with one ``addmm``; results equal
the padded convolution up to float rounding.
"""

import torch
from torch import nn


def circular_conv_index(height: int, width: int, kernel: int) -> torch.Tensor:
    """``S [H*W, H*W, k*k]``: ``S[p, q, o]`` counts how often kernel offset ``o`` reads input cell ``q``
    for output cell ``p`` of a circular 'same' convolution (an odd ``kernel`` centred on ``p``)."""
    pad = kernel // 2
    index = torch.zeros(height * width, height * width, kernel * kernel)
    for y in range(height):
        for x in range(width):
            for dy in range(kernel):
                for dx in range(kernel):
                    source = ((y + dy - pad) % height) * width + (x + dx - pad) % width
                    index[y * width + x, source, dy * kernel + dx] += 1
    return index


def odd_kernel(grid_size: int) -> int:
    """The Coin Game networks' kernel size: the grid size, rounded up to odd (official ``src/agents/components.py``)."""
    return grid_size if grid_size % 2 == 1 else grid_size + 1


class CircularConv2d(nn.Conv2d):
    """``nn.Conv2d(in, out, kernel, padding="same", padding_mode="circular")`` for inputs of one fixed
    ``grid`` shape ``(H, W)``, computed as a dense matrix product (odd square kernels, stride 1)."""

    use_matmul = True
    """False: every instance in this process runs ``nn.Conv2d``'s padded convolution (for timing comparisons)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, grid: tuple) -> None:
        if kernel_size % 2 != 1:
            raise ValueError(f"CircularConv2d needs an odd kernel, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding="same", padding_mode="circular")
        self.grid = tuple(int(g) for g in grid)
        self.register_buffer("_index", circular_conv_index(*self.grid, kernel_size), persistent=False)

    def dense_weight(self) -> torch.Tensor:
        """The ``[C_out*H*W, C_in*H*W]`` matrix of this convolution (channel-major, like ``flatten``)."""
        cells = self._index.shape[0]
        w = torch.einsum("oik,pqk->opiq", self.weight.flatten(2), self._index)
        return w.reshape(self.out_channels * cells, self.in_channels * cells)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.use_matmul or tuple(x.shape[-2:]) != self.grid:
            return super().forward(x)
        lead = x.shape[:-3]
        cells = self._index.shape[0]
        flat = x.reshape(-1, self.in_channels * cells)
        out = torch.addmm(self.bias.repeat_interleave(cells), flat, self.dense_weight().t())
        return out.reshape(*lead, self.out_channels, *self.grid)
