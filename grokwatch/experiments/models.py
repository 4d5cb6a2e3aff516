"""Torch models for the `grokking` kind (imported only from `run()`, never by config code).

- `GrokMLP`: Gromov-style two-layer network. With `embed_dim == 0` the input is
  one-hot(x) ⊕ one-hot(y) times W1, computed as two row lookups (identical maths, ~1/3 of the FLOPs).
- `GrokTransformer`: the Power et al. decoder (token + learned position embeddings, post-LN
  blocks of causal self-attention and a 4x GELU MLP, final LayerNorm, linear head over the
  vocabulary), read out at the last position. Fused q/k/v projection and
  `scaled_dot_product_attention`; the last block computes queries, the attention output and the
  MLP only at the last position, the one that is read out (the same function, fewer FLOPs).
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


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        # Same names, shapes and init as nn.MultiheadAttention.
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, last_only: bool) -> torch.Tensor:
        b, s, d = x.shape
        h, hd = self.n_heads, d // self.n_heads
        if not last_only:
            q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(d, dim=-1)
            q, k, v = (t.view(b, s, h, hd).transpose(1, 2) for t in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.out_proj(a.transpose(1, 2).reshape(b, s, d))
        # Only the last position's output is needed: it attends to every position.
        w_q, w_kv = self.in_proj_weight.split([d, 2 * d])
        b_q, b_kv = self.in_proj_bias.split([d, 2 * d])
        k, v = F.linear(x, w_kv, b_kv).split(d, dim=-1)
        q = F.linear(x[:, -1:], w_q, b_q)
        q = q.view(b, 1, h, hd).transpose(1, 2)
        k = k.view(b, s, h, hd).transpose(1, 2)
        v = v.view(b, s, h, hd).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v)  # the last query sees every key
        return self.out_proj(a.transpose(1, 2).reshape(b, 1, d))


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.self_attn = _Attention(d_model, n_heads)
        self.self_attn_norm = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))
        self.ffn_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        a = self.self_attn(x, last_only)
        if last_only:
            x = x[:, -1:]
        x = self.self_attn_norm(x + a)
        return self.ffn_norm(x + self.ffn(x))


class GrokTransformer(nn.Module):
    """Input: (batch, 4) tokens `x op y =`; output: logits over the vocabulary at the last position."""

    def __init__(self, n_tokens: int, d_model: int = 128, n_heads: int = 4, n_layers: int = 2,
                 seq_len: int = 5):
        super().__init__()
        self.token_embeddings = nn.Embedding(n_tokens, d_model)
        self.position_embeddings = nn.Embedding(seq_len, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_tokens)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        s = tokens.shape[1]
        x = self.token_embeddings(tokens) + self.position_embeddings.weight[:s]
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, last_only=(i == last))
        return self.head(self.norm(x[:, -1]))
