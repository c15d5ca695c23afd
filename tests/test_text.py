"""The one text analyzer: words, content terms, numbers, CJK measures, sentences and IDF read any language alike."""

from __future__ import annotations

from searchchat.text import (
    CITE_MARKER,
    cjk_chars,
    cjk_content_chars,
    content_terms,
    idf,
    is_number,
    join_sentences,
    numbers,
    sentence_spans,
    split_sentences,
    words,
)


def test_words_keep_inner_hyphens_apostrophes_and_dots() -> None:
    assert words("SARS-CoV-2 isn't e.g. new.") == ["SARS-CoV-2", "isn't", "e.g", "new"]


def test_content_terms_are_stemmed_without_stopwords_or_bare_numbers() -> None:
    assert content_terms("The models were trained in 2019 on two corpora") == {"model", "train", "corpora"}


def test_content_terms_read_chinese_as_bigrams_beside_english_words() -> None:
    assert content_terms("ChatGPT的训练") == {"chatgpt", "的训", "训练"}


def test_numbers_are_normalised_from_digits_words_and_chinese_numerals() -> None:
    assert numbers("400,000 beds, 3.60-fold, seven wards, 二十三个, HIV-1") == {"400000", "3.6", "7", "23"}
    assert is_number("1,234.5") and not is_number("HIV-1")


def test_sentences_split_latin_and_cjk_full_stops_and_keep_trailing_markers() -> None:
    text = "Pre-training comes first [1]. 微调其次。Is it a GAN? No."
    assert split_sentences(text) == ["Pre-training comes first [1].", "微调其次。", "Is it a GAN?", "No."]
    assert [text[s:e] for s, e in sentence_spans(text)] == split_sentences(text)
    assert split_sentences("See e.g. Fig. 3 for details.") == ["See e.g. Fig. 3 for details."]


def test_chinese_sentences_also_end_at_semicolons_and_an_ellipsis() -> None:
    text = (
        "第一，职官与长者并用；第二，刑禁与教化并施。他说……然后走了。包括能源、旅游……。他说：“好……”然后走了。"
    )
    assert split_sentences(text) == ["第一，职官与长者并用；", "第二，刑禁与教化并施。", "他说……", "然后走了。",
                                     "包括能源、旅游……。", "他说：“好……”", "然后走了。"]  # fmt: skip
    # Latin text keeps its semicolons and ellipses inside the sentence
    assert split_sentences("Wait… what? One; two. Done.") == ["Wait… what?", "One; two.", "Done."]
    # whole sentences (what a quote reads) run to 。！？ past the semicolons and ellipses
    whole = [text[s:e] for s, e in sentence_spans(text, whole=True)]
    assert whole == ["第一，职官与长者并用；第二，刑禁与教化并施。", "他说……然后走了。", "包括能源、旅游……。",
                     "他说：\u201c好……\u201d然后走了。"]  # fmt: skip


def test_citation_markers_and_cjk_characters() -> None:
    assert [m.group(0) for m in CITE_MARKER.finditer("a [1] b [2, 3] c (Source 4)")] == [
        "[1]",
        "[2, 3]",
        "(Source 4)",
    ]
    assert cjk_chars("ChatGPT的训练") == {"的", "训", "练"}


def test_idf_is_never_negative_and_falls_with_document_frequency() -> None:
    assert idf(0, 10) > idf(5, 10) > idf(10, 10) >= 0.0


def test_sentences_join_with_a_space_after_latin_and_none_after_cjk() -> None:
    assert join_sentences(["No.", "ChatGPT is not a GAN."]) == "No. ChatGPT is not a GAN."
    assert join_sentences(["常有人以为它是 GAN。", "这是误解。"]) == "常有人以为它是 GAN。这是误解。"
    assert join_sentences(["他说：\u201c好。\u201d", "然后走了。"]) == "他说：\u201c好。\u201d然后走了。"
    assert join_sentences(["GAN 不是 GPT.", "It is not."]) == "GAN 不是 GPT. It is not."


def test_cjk_content_chars_drop_one_character_function_words() -> None:
    assert cjk_content_chars("王爱爱是晋剧的皇后 GAN") == {"王", "爱", "晋", "剧", "皇", "后"}
    assert cjk_content_chars("No Chinese here.") == set()
