"""A bounded schemathesis run over the whole API in process, with a fake generator: no request may get a 5xx,
and every response must match the OpenAPI schema that the app publishes."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from searchchat.generators.base import Prompt
from tests.fakes import ScriptedGenerator
from tests.web_helpers import build_index, make_app, web_settings

EXAMPLES = 300  # per operation and phase (about 1,900 requests, under a minute); derandomized: same each run
REQUESTS: list[str] = []
pytestmark = pytest.mark.fuzz


class RepeatingGenerator(ScriptedGenerator):
    """Gives the same cited reply to every prompt."""

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        self.replies = ["A GAN trains a generator against a discriminator [1]."]
        yield from super().stream(prompt, max_new_tokens, temperature)


# The schema is read at collection (schemathesis.pytest.from_fixture fails under pytest 9.2 with
# AttributeError: _nodeid), from an app
# over an index that the module fixture below builds before the first request.
ROOT = Path(tempfile.mkdtemp(prefix="searchchat-fuzz-"))
atexit.register(shutil.rmtree, ROOT, True)
APP = make_app(web_settings(ROOT / "home", ROOT / "index"), RepeatingGenerator())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def index() -> Iterator[Path]:
    built = build_index(ROOT)  # DELETE /api/sources may be sent the real source name: this copy is the fuzz's
    yield built
    print(f"\nschemathesis: {len(REQUESTS)} requests:", dict(sorted(Counter(REQUESTS).items())))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_api_matches_its_schema(case: schemathesis.Case) -> None:
    response = case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
    REQUESTS.append(f"{case.method} {case.path} {response.status_code}")


def test_the_fuzzed_paths_exist(tmp_path: Path) -> None:
    """The run above covers the API: these paths are in the schema it reads."""
    spec = make_app(web_settings(tmp_path / "home", tmp_path / "none")).openapi()
    assert {"/ask", "/ask/stream", "/search", "/api/sources", "/v1/chat/completions"} <= set(spec["paths"])
    conversations = {"/api/conversations", "/api/conversations/{conversation_id}", "/api/feedback",
                     "/api/conversations/{conversation_id}/share", "/api/shared/{token}"}  # fmt: skip
    assert conversations <= set(spec["paths"])
    sources = {
        "/api/uploads",
        "/api/sources/reindex",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/events",
    }
    assert sources <= set(spec["paths"])
