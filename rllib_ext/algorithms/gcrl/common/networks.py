"""The official code's flax networks in PyTorch (``impls/utils/networks.py``: ``MLP``, ``GCActor``, ``GCValue``, ``GCEncoder``).

Every MLP is Dense → GELU (tanh approximation) → optional LayerNorm (eps 1e-6) per hidden
layer, then a linear output; kernels Glorot-uniform, biases zero; policy mean heads use
Glorot with gain 0.1 (flax ``variance_scaling(0.01, 'fan_avg', 'uniform')``).
"""

import math
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-6
MEAN_HEAD_GAIN = 0.1
_GELU_K0 = math.sqrt(8 / math.pi)  # 2·sqrt(2/π)
_GELU_K1 = _GELU_K0 * 0.044715


class _TanhGELU(torch.autograd.Function):
    """flax's GELU, ``0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))``, written as ``x · σ(2z)``.

    The same function (equal to float rounding), but sigmoid is several times faster than tanh
    on CPU and the in-place form avoids temporaries; this was the largest single cost of a step.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        s = x * x
        s.mul_(_GELU_K1).add_(_GELU_K0).mul_(x).sigmoid_()
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # d/dx [x σ(u)] = σ(u) (1 + x (1 − σ(u)) u'),  u' = K0 + 3 K1 x²
        x, s = ctx.saved_tensors
        d = x * x
        d.mul_(3 * _GELU_K1).add_(_GELU_K0).mul_(x)
        d.sub_(d * s).add_(1).mul_(s)
        return d.mul_(grad)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU with the tanh approximation (flax default)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _TanhGELU.apply(x)
    s = x * x
    return s.mul_(_GELU_K1).add_(_GELU_K0).mul_(x).sigmoid_().mul_(x)


def glorot_linear(in_dim: int, out_dim: int, gain: float = 1.0) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


class MLP(nn.Module):
    """Hidden layers ``Dense → GELU [→ LayerNorm]``, then a linear output layer."""

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        *,
        layer_norm: bool,
        out_gain: float = 1.0,
    ):
        super().__init__()
        dims = [in_dim, *hidden_dims]
        self.hidden = nn.ModuleList(glorot_linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(
            nn.LayerNorm(d, eps=LAYER_NORM_EPS) if layer_norm else nn.Identity() for d in hidden_dims
        )
        self.out = glorot_linear(dims[-1], out_dim, gain=out_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, norm in zip(self.hidden, self.norms):
            x = norm(gelu(layer(x)))
        return self.out(x)


class EnsembleMLP(nn.Module):
    """``num`` independent MLPs (the value ensemble), evaluated together with batched matmuls.

    Input ``[B, D]`` (shared by all members); output ``[num, B, out_dim]``. Parameter layout
    and count equal ``num`` separate ``MLP``s with per-member Glorot init and LayerNorm.
    """

    def __init__(self, num: int, in_dim: int, hidden_dims: Sequence[int], out_dim: int, *, layer_norm: bool):
        super().__init__()
        dims = [in_dim, *hidden_dims, out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(dims[:-1], dims[1:]):
            w = torch.empty(num, a, b)
            for member in w:
                nn.init.xavier_uniform_(member)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(num, 1, b)))
        self.layer_norm = layer_norm
        if layer_norm:
            self.norm_scales = nn.ParameterList(nn.Parameter(torch.ones(num, 1, d)) for d in hidden_dims)
            self.norm_shifts = nn.ParameterList(nn.Parameter(torch.zeros(num, 1, d)) for d in hidden_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = _ensemble_linear(x, w, b)
            if i < last:
                x = gelu(x)
                if self.layer_norm:
                    x = torch.addcmul(
                        self.norm_shifts[i], F.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS), self.norm_scales[i]
                    )
        return x


def _ensemble_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x @ w + b`` per member: ``x`` ``[B, D]`` (shared) or ``[num, B, D]``; ``w`` ``[num, D, H]``.

    A shared input meets all members' weights side by side in one matmul, and a width-1 output
    is a multiply-and-sum: on CPU both are several times faster than the batched matmuls
    (``bmm`` with a broadcast input, or with one output column) that compute the same numbers.
    """
    num, d_in, d_out = w.shape
    if x.dim() == 2:
        y = torch.addmm(b.transpose(0, 1).reshape(1, num * d_out), x, w.transpose(0, 1).reshape(d_in, num * d_out))
        return y.view(-1, num, d_out).transpose(0, 1)
    if d_out == 1:
        return (x * w.transpose(1, 2)).sum(dim=-1, keepdim=True) + b
    return torch.baddbmm(b, x, w)


class LengthNormalize(nn.Module):
    """``x / ‖x‖ · √dim`` (flax ``LengthNormalize``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True) * math.sqrt(x.shape[-1])


class GoalRepresentation(nn.Sequential):
    """φ([s; g]): MLP with LayerNorm to ``rep_dim``, then length-normalised (HIQL's goal encoder)."""

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], rep_dim: int, *, layer_norm: bool):
        super().__init__(MLP(in_dim, hidden_dims, rep_dim, layer_norm=layer_norm), LengthNormalize())
        self.rep_dim = rep_dim


EncoderFactory = Callable[[Tuple[int, ...]], nn.Module]
"""``encoder(input_shape) -> nn.Module`` mapping ``[B, *input_shape]`` to ``[B, F]`` (e.g. an Impala CNN)."""


def build_encoder(factory: Optional[EncoderFactory], input_shape: Tuple[int, ...]) -> Tuple[nn.Module, int]:
    """The encoder for inputs of ``input_shape`` (identity for state vectors) and its output width."""
    if factory is None:
        return nn.Identity(), int(math.prod(input_shape))
    encoder = factory(input_shape)
    with torch.no_grad():
        return encoder, int(encoder(torch.zeros(1, *input_shape)).shape[-1])


class GoalConditionedInput(nn.Module):
    """The official ``GCEncoder``: features of an (observation, goal) pair.

    With a goal representation φ: ``[state_encoder(s); φ(concat_encoder([s; g]))]``;
    without: ``concat_encoder([s; g])``. ``[s; g]`` joins the last axis (state features or
    image channels). Without an ``encoder`` factory both encoders are the identity.
    ``shared_from`` reuses another input's concat encoder and φ, gradients included
    (``share_goal_rep``).
    """

    def __init__(
        self,
        observation_shape: Tuple[int, ...],
        *,
        rep_hidden_dims: Optional[Sequence[int]] = None,
        rep_dim: int = 10,
        layer_norm: bool = True,
        encoder: Optional[EncoderFactory] = None,
        shared_from: Optional["GoalConditionedInput"] = None,
    ):
        super().__init__()
        pair_shape = (*observation_shape[:-1], 2 * observation_shape[-1])
        if shared_from is not None:
            self.concat_encoder, self.goal_representation = shared_from.concat_encoder, shared_from.goal_representation
            concat_dim = shared_from.concat_dim
        else:
            self.concat_encoder, concat_dim = build_encoder(encoder, pair_shape)
            self.goal_representation = (
                None
                if rep_hidden_dims is None
                else GoalRepresentation(concat_dim, rep_hidden_dims, rep_dim, layer_norm=layer_norm)
            )
        self.concat_dim = concat_dim
        if self.goal_representation is None:
            self.state_encoder, self.out_dim = None, concat_dim
        else:
            self.state_encoder, state_dim = build_encoder(encoder, observation_shape)
            self.out_dim = state_dim + self.goal_representation.rep_dim

    def forward(self, observations: torch.Tensor, goals: torch.Tensor, *, state_encoder: Optional[nn.Module] = None,
                concat_encoder: Optional[nn.Module] = None) -> torch.Tensor:
        """The features; ``state_encoder`` / ``concat_encoder`` stand in for this input's own (a target's copies)."""
        pair = (concat_encoder or self.concat_encoder)(torch.cat([observations, goals], dim=-1))
        if self.goal_representation is None:
            return pair
        return torch.cat([(state_encoder or self.state_encoder)(observations), self.goal_representation(pair)], dim=-1)


class GoalConditionedActor(nn.Module):
    """Mean of a fixed-unit-std Gaussian policy π(a | s, g): input features → MLP without LayerNorm."""

    def __init__(self, inputs: GoalConditionedInput, hidden_dims: Sequence[int], action_dim: int):
        super().__init__()
        self.inputs = inputs
        self.mlp = MLP(inputs.out_dim, hidden_dims, action_dim, layer_norm=False, out_gain=MEAN_HEAD_GAIN)

    def forward(self, observations: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.inputs(observations, goals))


class GoalConditionedValue(nn.Module):
    """``num_heads`` value heads on shared input features (the official ``GCValue``); ``forward`` returns ``[num_heads, B]``.

    With ``action_dim > 0`` it is a critic ``Q(s, g, a)``: the heads see ``[features(s, g); a]``.
    """

    def __init__(self, inputs: GoalConditionedInput, hidden_dims: Sequence[int], *, layer_norm: bool,
                 num_heads: int = 2, action_dim: int = 0):
        super().__init__()
        self.inputs = inputs
        self.heads = EnsembleMLP(num_heads, inputs.out_dim + action_dim, hidden_dims, 1, layer_norm=layer_norm)

    def forward(self, observations: torch.Tensor, goals: torch.Tensor, actions: Optional[torch.Tensor] = None):
        features = self.inputs(observations, goals)
        if actions is not None:
            features = torch.cat([features, actions], dim=-1)
        return self.heads(features).squeeze(-1)

    def mean_values(self, pairs: List[Tuple[torch.Tensor, torch.Tensor]]) -> Tuple[torch.Tensor, ...]:
        """``(V_1 + V_2) / 2`` at several (observation, goal) pairs, in one batched pass."""
        observations, goals = zip(*pairs)
        return self(torch.cat(observations), torch.cat(goals)).mean(dim=0).chunk(len(pairs))


def call_frozen(module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """``module(*args)`` with its parameters detached: gradients reach the inputs only.

    The official code's call of a network without ``params=grad_params`` (e.g. the critic in DDPG+BC, which
    passes the actor's gradient through the action and leaves the critic alone).
    """
    params = {name: p.detach() for name, p in module.named_parameters()}
    return torch.func.functional_call(module, params, args)


@torch.no_grad()
def soft_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak averaging ``θ̄ ← τ θ + (1 − τ) θ̄`` over matching parameters."""
    torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)
