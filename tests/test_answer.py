"""Answerer.stream: event order, verified citations, abstention, the token budget, follow-ups, language."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence

import pytest

from indexer.pipeline import index_sources
from indexer.store import IndexStore
from searchchat.answering.events import Final, Preview, Rewrite, Sources, Token, payload
from searchchat.answering.pipeline import Answerer
from searchchat.answering.policy import get_policy
from searchchat.indexing import index_options
from searchchat.language import ABSTAIN
from searchchat.models.crossencoder import Scorer
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings
from tests.answer_helpers import ListRetriever, make_hits
from tests.fakes import FakeEmbedder, ScriptedGenerator
from tests.helpers import write_docs

TEXTS = [
    "ChatGPT is not a GAN. It is a transformer trained by next-token prediction and then fine-tuned with RLHF.",
    "A generative adversarial network trains a generator against a discriminator [4].",
    "BM25 ranks documents by term frequency saturation and inverse document frequency.",
]


@pytest.fixture
def answerer(
    settings: Settings, scripted_generator: ScriptedGenerator, fake_embedder: FakeEmbedder
) -> Answerer:
    # the sources keep the retriever's order here (the tests name them by number); evidence reranking has its
    # own tests in test_evidence.py
    fixed = settings.model_copy(update={"evidence_rerank": False})
    return Answerer(ListRetriever(make_hits(*TEXTS), fake_embedder), scripted_generator, fixed)


def test_events_come_in_order_and_the_final_answer_is_verified(
    answerer: Answerer, scripted_generator
) -> None:
    reply = "ChatGPT is not a GAN [2]. It is a transformer trained by next-token prediction [1]. It was made on Mars [5]."
    scripted_generator.enqueue(reply)
    events = list(answerer.stream("Is ChatGPT a GAN?"))
    kinds = [type(e) for e in events]
    assert kinds[:2] == [Sources, Preview] and kinds[-1] is Final and set(kinds[2:-1]) == {Token}
    sources, preview, last = events[0], events[1], events[-1]
    assert isinstance(sources, Sources) and isinstance(preview, Preview) and isinstance(last, Final)
    text = sources.sources[preview.source - 1]["text"]
    assert text[preview.start : preview.end] == preview.quote and preview.score > 0
    assert "".join(e.text for e in events if isinstance(e, Token)) == reply  # the raw stream
    assert [s["n"] for s in sources.sources] == [1, 2, 3] and sources.query == "Is ChatGPT a GAN?"
    assert payload(preview) == {"source": preview.source, "quote": preview.quote, "start": preview.start,
                                "end": preview.end, "score": preview.score}  # fmt: skip
    final = payload(last)
    assert final == last.answer.to_dict() and final["kind"] == "generated" and final["raw_answer"] == reply
    assert final["answer"] == (
        "ChatGPT is not a GAN [1]. It is a transformer trained by next-token prediction [1]. It was made on Mars."
    )
    assert [c["n"] for c in final["citations"]] == [1] and not final["abstained"]
    assert [(s["citations"], s["supported"]) for s in final["sentences"]] == [
        ([1], True),
        ([1], True),
        ([], False),
    ]
    assert final["changed"] and final["raw_answer"] == reply
    assert final["citations"][0]["url"] == "file:///docs/1.md" and final["citations"][0]["snippet"]
    for key in ("retrieve_ms", "generate_ms", "first_token_ms", "total_ms"):
        assert final["timings"][key] >= 0


def test_no_citation_outside_the_sources_is_shown(answerer: Answerer, scripted_generator) -> None:
    # Source 2 carries its own reference marker [4]; the model copies it; it must not survive.
    scripted_generator.enqueue(
        "A generative adversarial network trains a generator against a discriminator [4]."
    )
    final = answerer.ask("What does a generative adversarial network train?")
    shown = [int(n) for n in re.findall(r"\[(\d+)\]", final["answer"])]
    assert shown == [2] and [c["n"] for c in final["citations"]] == [2]
    assert (
        "[4]" not in final["sources"][1]["text"]
        and "[4]" not in scripted_generator.prompts[0].messages[-1]["content"]
    )


def test_unsupported_answer_abstains_and_lists_the_closest_sources(
    answerer: Answerer, scripted_generator
) -> None:
    scripted_generator.enqueue("The capital of France is Paris [1].")
    final = answerer.ask("What is the capital of France?")
    assert final["abstained"] and final["answer"] == ABSTAIN["en"]
    assert final["citations"] == [] and len(final["sources"]) == 3


class DoubtingScorer(Scorer):
    """Finds every sentence unlikely to answer, as the trained model does with a subject it reads badly."""

    name, scale = "doubting", "probability"

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        return [0.05 + 0.01 * ("saturation" in t) for t in texts]


@pytest.mark.parametrize("closest_prior, shown", [(-1.0, True), (10.0, False)])
def test_not_found_shows_the_closest_passage_only_when_a_source_comes_close(
    settings: Settings, fake_embedder: FakeEmbedder, closest_prior: float, shown: bool
) -> None:
    policy = dataclasses.replace(get_policy(scale="probability"), closest_prior=closest_prior)
    fixed = settings.model_copy(update={"evidence_rerank": False})
    answerer = Answerer(ListRetriever(make_hits(*TEXTS), fake_embedder), ScriptedGenerator(), fixed,
                        scorer=DoubtingScorer(), policy=policy)  # fmt: skip
    final = answerer.ask("What does BM25 rank documents by?")
    assert final["abstained"] and final["reason"] == "not_answerable" and final["citations"] == []
    closest = final["closest"]
    if not shown:
        assert closest is None
        return
    source = final["sources"][closest["n"] - 1]["text"]
    assert closest["n"] == 3 and closest["quote"].startswith("BM25 ranks documents")
    assert source[closest["start"] : closest["end"]] == closest["quote"]


def test_model_that_declines_abstains(answerer: Answerer, scripted_generator) -> None:
    scripted_generator.enqueue("The indexed documents do not answer this question.")
    final = answerer.ask("Who won the 1998 World Cup?")
    assert final["abstained"] and final["citations"] == []


def test_answer_language_follows_the_question(answerer: Answerer, scripted_generator) -> None:
    scripted_generator.enqueue("Je ne sais pas.")
    final = answerer.ask("Quelle est la capitale de la France et où se trouve-t-elle ?")
    assert final["abstained"] and final["answer"] == ABSTAIN["fr"] and final["reason"] == "not_answerable"
    final = answerer.ask("法国的首都是哪里？")
    assert final["abstained"] and final["answer"] == ABSTAIN["zh"]


def test_context_budget_limits_the_sources(settings: Settings, fake_embedder) -> None:
    gen = ScriptedGenerator().enqueue("ChatGPT is not a GAN [1].")
    budget = 128  # the scripted generator counts a token per 4 characters: the first two sources fit
    answerer = Answerer(
        ListRetriever(make_hits(*(TEXTS * 4)), fake_embedder),
        gen,
        settings.with_overrides(context_tokens=budget),
    )
    first = list(answerer.stream("Is ChatGPT a GAN?"))[0]
    assert isinstance(first, Sources)
    sources = first.sources
    assert 1 <= len(sources) < 12
    prompt = gen.prompts[0].messages[-1]["content"]
    assert f"Source {len(sources)} (" in prompt and f"Source {len(sources) + 1} (" not in prompt
    blocks = prompt.split("\n\nQuestion:")[0]
    assert gen.count_tokens(blocks) <= budget + 16


def test_irrelevant_retrieval_abstains_without_generating(settings: Settings, tmp_path) -> None:
    docs = write_docs(tmp_path / "docs")
    index_sources([str(docs)], index_options(settings))
    store = IndexStore.open(settings.index_dir)
    gen = ScriptedGenerator()  # nothing queued: generating would fail the test
    answerer = Answerer(Retriever(store, FakeEmbedder(), settings), gen, settings)
    final = answerer.ask("How do I bake sourdough bread?")
    assert final["abstained"] and final["sources"] and gen.prompts == []
    assert final["reason"] == "not_answerable" and final["answerability"] < 0.5 and final["kind"] is None
    gen.enqueue("ChatGPT is not a GAN; it is a transformer trained by next-token prediction.")
    final = answerer.ask("Is ChatGPT a GAN?")
    assert not final["abstained"] and final["citations"] and final["sentences"][0]["citations"]


class CountingEmbedder(FakeEmbedder):
    """Counts how often each text is embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed_batch(self, texts):  # type: ignore[no-untyped-def]
        self.seen.extend(texts)
        return super().embed_batch(texts)


def test_each_question_is_embedded_once(settings: Settings, tmp_path) -> None:
    docs = write_docs(tmp_path / "docs")
    index_sources([str(docs)], index_options(settings))
    embedder = CountingEmbedder()
    embedder.name = FakeEmbedder().name  # the index's embedder, so the retriever searches it
    answerer = Answerer(
        Retriever(IndexStore.open(settings.index_dir), embedder, settings), ScriptedGenerator(), settings
    )
    answerer.ask(
        "How do I bake sourdough bread?"
    )  # retrieval embeds it; the evidence score reuses that vector
    assert embedder.seen.count("How do I bake sourdough bread?") == 1


def test_follow_up_is_rewritten_before_retrieval(settings: Settings, fake_embedder) -> None:
    gen = ScriptedGenerator().enqueue(
        "How is ChatGPT trained?", "ChatGPT is a transformer trained by next-token prediction [1]."
    )
    retriever = ListRetriever(make_hits(*TEXTS), fake_embedder)
    history = [{"role": "user", "content": "Is ChatGPT a GAN?"}, {"role": "assistant", "content": "No [1]."}]
    events = list(Answerer(retriever, gen, settings).stream("How is it trained?", history=history))
    assert [e.name for e in events][:2] == ["rewrite", "sources"]
    first, last = events[0], events[-1]
    assert isinstance(first, Rewrite) and isinstance(last, Final)
    assert first.query == "How is ChatGPT trained?" == retriever.queries[0] == last.answer.query
    answer_prompt = gen.prompts[1].messages
    assert {"role": "assistant", "content": "No."} in answer_prompt  # old markers numbered other sources
    assert answer_prompt[-1]["content"].count("Question: How is it trained?") == 1
    assert last.answer.citations[0].n == 1


def test_answer_sources_use_their_own_per_document_cap(settings: Settings, fake_embedder) -> None:
    retriever = ListRetriever(make_hits(*TEXTS), fake_embedder)
    s = settings.with_overrides(per_doc_cap=2, answer_per_doc_cap=5)
    Answerer(retriever, ScriptedGenerator().enqueue("No [1]."), s).ask("Is ChatGPT a GAN?")
    assert retriever.caps == [5]


def test_empty_question_is_an_error(answerer: Answerer) -> None:
    with pytest.raises(ValueError, match="empty"):
        answerer.ask("   ")


def test_closing_the_stream_early_closes_the_generation(settings: Settings, fake_embedder) -> None:
    closed: list[bool] = []

    class Endless(ScriptedGenerator):
        def stream(self, prompt, max_new_tokens=256, temperature=0.0):  # type: ignore[no-untyped-def]
            try:
                while True:
                    yield "word "
            finally:
                closed.append(True)

    events = Answerer(ListRetriever(make_hits(*TEXTS), fake_embedder), Endless(), settings).stream(
        "Is ChatGPT a GAN?"
    )
    assert [next(events).name for _ in range(3)] == ["sources", "preview", "token"]
    events.close()
    assert closed == [True]


# -- the `ask` command: history file, streaming display ---------------------------------------------
@pytest.fixture
def cli_index(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from searchchat.cli import _register, app

    _register()
    monkeypatch.setenv("SEARCHCHAT_EMBEDDER", "hash-64")
    monkeypatch.setenv("SEARCHCHAT_GENERATOR", "extractive")
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(write_docs(tmp_path / "docs")), "--quiet"]).exit_code == 0
    return runner, app


def test_ask_with_history_file_rewrites_the_follow_up(cli_index, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner, app = cli_index
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "user", "content": "What does a robots.txt file list?"},
                                   {"role": "assistant", "content": "Disallow rules [1]."}]))  # fmt: skip
    result = runner.invoke(app, ["ask", "Who reads it?", "--history", str(history), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"].startswith("Who reads it? (") and "robots.txt" in data["query"]
    assert not data["abstained"] and data["citations"][0]["title"] == "Robots"


@pytest.mark.parametrize("content", ["not json", '{"role": "user"}', '[{"role": "robot", "content": "x"}]'])
def test_ask_with_a_bad_history_file_is_a_clear_error(cli_index, tmp_path, content: str) -> None:  # type: ignore[no-untyped-def]
    runner, app = cli_index
    history = tmp_path / "history.json"
    history.write_text(content)
    result = runner.invoke(app, ["ask", "Who reads it?", "--history", str(history)])
    assert result.exit_code == 2 and "history" in result.stderr and "Traceback" not in result.output


def test_ask_streams_then_prints_sources(cli_index) -> None:  # type: ignore[no-untyped-def]
    runner, app = cli_index
    result = runner.invoke(app, ["ask", "What do polite crawlers read before fetching pages?"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "polite crawlers read it before fetching pages" in out and "[1]" in out
    assert "\nSources:\n  [1] Robots — Robots > Disallow\n" in out and "Verified answer" not in out
    assert "(top passage [1]: \u201c" in result.stderr and "top passage" not in out  # shown before the answer


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("What is the main cause of HIV infection in children?", "en"),
        ("Quelle est la principale cause de l'infection chez les enfants ?", "fr"),
        ("Was ist die häufigste Ursache der Infektion bei Kindern?", "de"),
        ("¿Cuál es la principal causa de la infección en los niños?", "es"),
        ("BM25?", "en"),
        ("ChatGPT的训练分为哪两个阶段？", "zh"),
        ("What does 预训练 mean?", "en"),
        ("ChatGPTはGANですか？", "ja"),
        ("ChatGPT는 GAN입니까?", "ko"),
    ],
)
def test_question_language(question: str, lang: str) -> None:
    from searchchat.language import detect_language

    assert detect_language(question) == lang


def test_not_found_prints_the_closest_passage_before_the_sources(capsys) -> None:  # type: ignore[no-untyped-def]
    from searchchat.cli.query import print_answer

    final = {"answer": ABSTAIN["en"], "abstained": True, "citations": [], "sentences": [],
             "sources": [{"n": 1, "title": "BM25", "section": "", "url": "file:///bm25.md"}],
             "closest": {"n": 1, "quote": "BM25 is a\n ranking function.", "snippet": "BM25 is a ranking"}}  # fmt: skip
    print_answer(final, streamed=False)
    out = capsys.readouterr().out
    assert (
        "Closest passage [1], not confirmed as an answer:\n  \u201cBM25 is a ranking function.\u201d\n" in out
    )
    assert out.index("Closest passage") < out.index("Closest sources:\n  [1] BM25\n")
