"""Torch models for the `grokking` kind (imported only from `run()`, never by config code).

- `GrokMLP`: Gromov-style two-layer network. With `embed_dim == 0` the input is
  one-hot(x) ⊕ one-hot(y) times W1, computed as two row lookups (identical maths, ~1/3 of the FLOPs).
- `GrokTransformer`: the Power et al. decoder (token + learned position embeddings, post-LN
  blocks of causal self-attention and a 4x GELU MLP, final LayerNorm, linear head over the
  vocabulary), read out at the last position. Fused q/k/v projection, attention by broadcasting
  over the 4 positions; the last block computes queries, the attention output and the MLP only at
  the last position, the one that is read out, and the `x op` prefix is computed once per possible
  x (the same function and gradients, 2.2x fewer FLOPs than the textbook model).
  Its parameters are laid out like `nn.MultiheadAttention`'s (`in_proj_weight`,
  `out_proj.weight`, ...) so a textbook implementation can load the same initialisation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class GrokMLP(nn.Module):
    def __init__(self, modulus: int, width: int, activation: str = "quadratic", embed_dim: int = 0,
                 init_scale: float = 1.0):
        super().__init__()
        self.modulus = modulus
        self.activation = activation
        self.embed_dim = embed_dim
        if embed_dim == 0:
            bound = 1.0 / math.sqrt(2 * modulus)  # nn.Linear(2p, width) init
            self.w_x = nn.Parameter(torch.empty(modulus, width).uniform_(-bound, bound))
            self.w_y = nn.Parameter(torch.empty(modulus, width).uniform_(-bound, bound))
        else:
            self.embed = nn.Parameter(torch.randn(modulus, embed_dim) / math.sqrt(embed_dim))
            self.w_in = nn.Linear(2 * embed_dim, width, bias=False)
        self.w_out = nn.Linear(width, modulus, bias=False)
        if init_scale != 1.0:
            with torch.no_grad():
                for q in self.parameters():
                    q.mul_(init_scale)

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        x, y = xy[:, 0], xy[:, 1]
        if self.embed_dim == 0:
            h = self.w_x[x] + self.w_y[y]
        else:
            h = self.w_in(torch.cat([self.embed[x], self.embed[y]], dim=1))
        h = torch.square(h) if self.activation == "quadratic" else F.relu(h)
        return self.w_out(h)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
           causal: bool = False) -> torch.Tensor:
    """Softmax attention in (..., s, heads, head_dim) layout: q (..., sq, h, e), k and v
    (..., sk, h, e) -> (..., sq, h, e); `mask` (sq, sk), True = may attend.

    For the handful of positions this task has, broadcasting beats the fused kernels on the CPU
    (and this layout needs no transposes: the projections' outputs are used as views); longer
    sequences go to `scaled_dot_product_attention`."""
    sq, sk = q.shape[-3], k.shape[-3]
    if sk > 8:
        out = F.scaled_dot_product_attention(q.transpose(-3, -2), k.transpose(-3, -2),
                                             v.transpose(-3, -2), attn_mask=mask,
                                             is_causal=causal and mask is None)
        return out.transpose(-3, -2)
    scores = (q.unsqueeze(-3) * k.unsqueeze(-4)).sum(-1) * (q.shape[-1] ** -0.5)  # (..., sq, sk, h)
    if causal and mask is None:
        mask = torch.ones(sq, sk, dtype=torch.bool, device=q.device).tril(sk - sq)
    if mask is not None:
        scores = scores.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    return (scores.softmax(-2).unsqueeze(-1) * v.unsqueeze(-4)).sum(-3)


class _Attention(nn.Module):
    """Projections with the names, shapes and init of nn.MultiheadAttention; the attention
    itself is done by the caller (it decides which queries and keys are needed)."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        """(..., s, d) -> (..., s, h, d/h), a view"""
        *lead, s, d = t.shape
        return t.unflatten(-1, (self.n_heads, d // self.n_heads))

    def merge(self, t: torch.Tensor) -> torch.Tensor:
        """(..., s, h, d/h) -> (..., s, d), then the output projection."""
        return self.out_proj(t.flatten(-2))

    def qkv(self, x: torch.Tensor):
        d = x.shape[-1]
        return [self.heads(t) for t in F.linear(x, self.in_proj_weight, self.in_proj_bias).split(d, -1)]

    def kv(self, x: torch.Tensor):
        d = x.shape[-1]
        k, v = F.linear(x, self.in_proj_weight[d:], self.in_proj_bias[d:]).split(d, -1)
        return self.heads(k), self.heads(v)

    def q(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        return self.heads(F.linear(x, self.in_proj_weight[:d], self.in_proj_bias[:d]))


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.self_attn = _Attention(d_model, n_heads)
        self.self_attn_norm = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))
        self.ffn_norm = nn.LayerNorm(d_model)

    def finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """Residual + LayerNorm around the attention output, then the MLP likewise (post-LN)."""
        x = self.self_attn_norm(x + self.self_attn.merge(attended))
        return self.ffn_norm(x + self.ffn(x))


class GrokTransformer(nn.Module):
    """Input: (batch, 4) tokens `x op y =` (one fixed `op` per dataset); output: logits over the
    vocabulary at the last position.

    Two exact shortcuts (the function and its gradients are those of the plain model):
    - the last block computes queries, attention output and MLP only at the last position;
    - positions 0 and 1 hold `x op`: under causal attention their hidden states, keys and values
      depend on x alone, so when the modulus is smaller than the batch they are computed once per
      possible x (p rows, not 2 x batch) and gathered.
    """

    def __init__(self, n_tokens: int, d_model: int = 128, n_heads: int = 4, n_layers: int = 2,
                 seq_len: int = 5, modulus: int | None = None):
        super().__init__()
        self.token_embeddings = nn.Embedding(n_tokens, d_model)
        self.position_embeddings = nn.Embedding(seq_len, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_tokens)
        self.modulus = modulus
        self.share_prefix = True

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, s = tokens.shape
        pos = self.position_embeddings.weight
        if self.share_prefix and s == 4 and self.modulus is not None and self.modulus < b:
            return self._forward_shared_prefix(tokens)
        x = self.token_embeddings(tokens) + pos[:s]
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            att = block.self_attn
            if i < last:
                q, k, v = att.qkv(x)
                x = block.finish(x, attend(q, k, v, causal=True))
            else:  # only the last position is read out: it attends to every position
                k, v = att.kv(x)
                x = x[:, -1:]
                x = block.finish(x, attend(att.q(x), k, v))
        return self.head(self.norm(x[:, -1]))

    def _forward_shared_prefix(self, tokens: torch.Tensor) -> torch.Tensor:
        pos = self.position_embeddings.weight
        xs = torch.arange(self.modulus, device=tokens.device)
        prefix = torch.stack([xs, tokens[0, 1].expand(self.modulus)], dim=1)  # every `x op`
        hp = self.token_embeddings(prefix) + pos[:2]  # (p, 2, d)
        hs = self.token_embeddings(tokens[:, 2:]) + pos[2:4]  # (b, 2, d): `y =`
        index = tokens[:, 0]
        # Suffix position 2 sees positions 0-2, position 3 sees all four.
        mask = torch.ones(2, 4, dtype=torch.bool, device=tokens.device)
        mask[0, 3] = False
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            att = block.self_attn
            if i < last:
                qp, kp, vp = att.qkv(hp)
                qs, ks, vs = att.qkv(hs)
                k = torch.cat([kp.index_select(0, index), ks], dim=1)
                v = torch.cat([vp.index_select(0, index), vs], dim=1)
                hp = block.finish(hp, attend(qp, kp, vp, causal=True))
                hs = block.finish(hs, attend(qs, k, v, mask))
            else:
                kp, vp = att.kv(hp)
                ks, vs = att.kv(hs)
                k = torch.cat([kp.index_select(0, index), ks], dim=1)
                v = torch.cat([vp.index_select(0, index), vs], dim=1)
                hs = hs[:, -1:]
                hs = block.finish(hs, attend(att.q(hs), k, v))
        return self.head(self.norm(hs[:, -1]))
