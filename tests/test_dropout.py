"""Packed dropout: torch's dropout in distribution, and a model left as it was after the block."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from searchchat.training.dropout import NAME, packed, packed_dropout  # noqa: E402


def test_packed_dropout_keeps_the_share_torch_keeps_and_rescales_like_it() -> None:
    torch.manual_seed(0)
    x = torch.ones(400, 500)
    y = packed_dropout(x, 0.1)
    assert abs(float((y > 0).float().mean()) - 0.9) < 0.005
    assert abs(float(y.mean()) - 1.0) < 0.01
    values = torch.unique(y).tolist()
    assert values[0] == 0.0 and values[1:] == [pytest.approx(65536 / (65536 - 6554))]


def test_packed_dropout_is_the_identity_in_evaluation_or_at_zero_and_seeded() -> None:
    x = torch.randn(3, 7)
    assert packed_dropout(x, 0.1, training=False) is x
    assert packed_dropout(x, 0.0) is x
    assert torch.equal(packed_dropout(x, 1.0), torch.zeros_like(x))
    torch.manual_seed(5)
    a = packed_dropout(x, 0.5)
    torch.manual_seed(5)
    assert torch.equal(a, packed_dropout(x, 0.5))


def test_packed_swaps_the_dropouts_and_attention_and_restores_them() -> None:
    from transformers import BertConfig

    from searchchat.models.crossencoder import build_model

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    model = build_model(config).eval()
    ids = torch.tensor([[1, 5, 7, 2, 0, 0], [1, 9, 3, 4, 8, 2]])
    mask = (ids > 0).long()
    before = model(input_ids=ids, attention_mask=mask)
    kind = model.config._attn_implementation
    with packed(model) as swapped:
        assert swapped == 1 + 2 * 3  # the embeddings', and each layer's attention and two hidden dropouts
        assert model.config._attn_implementation == NAME
        same = model(input_ids=ids, attention_mask=mask)  # evaluation: no dropout, the same attention
        model.train()
        torch.manual_seed(1)
        noisy = model(input_ids=ids, attention_mask=mask)
        model.eval()
    assert torch.allclose(before, same, atol=1e-5)
    assert not torch.allclose(before, noisy, atol=1e-5)
    assert model.config._attn_implementation == kind
    assert all(type(m).__name__ != "PackedDropout" for m in model.modules())
