"""The extractive fallback's quote: the best sentence, and the next best of the same source that is sure
enough, wherever it ranks among the candidates."""

from __future__ import annotations

from searchchat.answering.pipeline import Answerer
from searchchat.answering.policy import get_policy
from searchchat.answering.state import Candidate, quote_of

POLICY = get_policy("balanced")  # evidence scale: quote_min 1.0, at most two sentences


def cand(source: int, start: int, text: str, p: float) -> Candidate:
    return Candidate(source, start, start + len(text), text, prior=p, p=p)


def test_the_quote_takes_the_same_sources_next_sentence_past_another_sources_candidates() -> None:
    best = cand(1, 0, "常有人以为 ChatGPT 是一种生成对抗网络（GAN）。", 1.30)
    other = cand(2, 0, "两者都是生成模型，都能产生新的内容。", 1.29)
    second = cand(1, 27, "这是误解：ChatGPT 不是生成对抗网络。", 1.25)
    chosen = quote_of([best, other, second], POLICY)
    assert chosen == [best, second]
    quoted = Answerer.quoted(chosen)
    assert (
        quoted.text
        == "\u201c常有人以为 ChatGPT 是一种生成对抗网络（GAN）。这是误解：ChatGPT 不是生成对抗网络。\u201d [1]"
    )
    assert quoted.cited == [1]


def test_a_second_sentence_below_the_bar_or_from_another_source_is_left_out() -> None:
    best = cand(1, 40, "ChatGPT is not a GAN.", 1.2)
    weak = cand(1, 0, "GANs were introduced in 2014.", 0.9)
    elsewhere = cand(2, 0, "A GAN has a generator and a discriminator.", 1.1)
    assert quote_of([best, elsewhere, weak], POLICY) == [best]
    assert quote_of([cand(1, 0, "Unsure.", 0.5)], POLICY) == []


def test_the_quote_keeps_the_sources_order_and_at_most_the_policys_sentences() -> None:
    a, b, c = (
        cand(1, 50, "Third sentence here.", 1.4),
        cand(1, 0, "First one.", 1.3),
        cand(1, 20, "Second one.", 1.2),
    )
    assert quote_of([a, b, c], POLICY) == [b, a]


def test_the_preview_shows_what_the_policy_would_quote() -> None:
    from searchchat.answering.state import Found

    text = "常有人以为 ChatGPT 是 GAN。这是误解：ChatGPT 不是 GAN。"
    first, second = (
        cand(1, 0, "常有人以为 ChatGPT 是 GAN。", 1.3),
        cand(1, 20, "这是误解：ChatGPT 不是 GAN。", 1.2),
    )
    found = Found(
        "ChatGPT是GAN吗？", [], [text], [first, cand(2, 0, "两者都是生成模型。", 1.25), second], True
    )
    preview = found.preview(POLICY)
    assert preview is not None and preview.quote == text and text[preview.start : preview.end] == text
    assert Found("q", [], [text], [cand(1, 0, "Unsure.", 0.5)], True).preview(POLICY) is None


def test_a_clause_that_ends_at_a_semicolon_is_quoted_with_the_rest_of_its_sentence() -> None:
    from searchchat.answering.state import Found, whole_sentences

    text = "中医上以全草入药，主治感冒发热、疟疾等症；近用于乳糜尿。另一句话。"
    clause = cand(1, 0, "中医上以全草入药，主治感冒发热、疟疾等症；", 1.2)
    rest = cand(1, 21, "近用于乳糜尿。", 1.1)
    assert text[clause.start : clause.end] == clause.text and text[rest.start : rest.end] == rest.text
    (whole,) = whole_sentences([clause, rest], text)  # both clauses are one sentence: quoted once
    assert whole.text == "中医上以全草入药，主治感冒发热、疟疾等症；近用于乳糜尿。" and (
        whole.start,
        whole.end,
    ) == (0, 28)
    found = Found("短叶水蜈蚣主治哪些问题？", [], [text], [clause, rest], True)
    assert [c.text for c in found.quote(POLICY)] == [whole.text]
    assert found.preview(POLICY).quote == whole.text  # type: ignore[union-attr]
    # a Latin sentence is its own whole sentence
    latin = "One; two. Three."
    assert whole_sentences([cand(1, 0, "One; two.", 1.2)], latin)[0].text == "One; two."
