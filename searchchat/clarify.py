"""Questions that point at one unnamed document ("this study", "the authors") when the sources come from several.

COVID-QA's questions were written beside one article, and a search over many articles cannot tell which one
"the response rate for the study" means. The small model answers anyway, from whichever study it was given,
with a citation that holds for that study and misleads the user. On 200 tuning questions (none from the
eval-qa sample) 10 matched; of the 4 answered, 3 cited the wrong article. Such a question gets a request to
name the document instead of an answer. English only, like the question-type checks in answer.py.

The same holds without the words "this study": "How many patients were studied?" names nothing that singles
out one of 98 studies (coverage.chance_matches). answer.py asks such broad questions to be narrowed unless a
passage matches them closely.
"""

from __future__ import annotations

import re

_NOUNS = r"(?:study|studies|report|paper|article|review|work|survey|trial|analysis|research|authors?)"
# "this study", "our review"; "the study" unless a phrase that names it follows ("the study of MERS in Korea")
_UNNAMED = re.compile(
    rf"\b(?:this|these|that|those|the present|the current|our) {_NOUNS}\b"
    rf"|\bthe {_NOUNS}\b(?!'s)(?!\s+(?:of|on|by|in|from|about|regarding|into|with|for|that|which)\b)"
    rf"(?!\s+(?:led|conducted|published)\s+\w)",  # "the study conducted in Korea", not "was the study conducted?"
    re.IGNORECASE,
)


def unnamed_reference(question: str) -> str | None:
    """The phrase by which the question points at one document without naming it, if it has one."""
    m = _UNNAMED.search(question)
    return m.group(0) if m else None


def broad_message() -> str:
    """The reply to a question whose words occur all over the index and that no passage matches closely."""
    return (
        "The question is too broad for these documents: its words occur in passages of many of them, and none "
        "answers it closely. Say what it is about (a name, a place, a study) and ask again."
    )


def clarify_message(phrase: str) -> str:
    return (
        f'The question refers to "{phrase}", but the closest passages come from several documents. '
        "Name the document or its topic and ask again."
    )
