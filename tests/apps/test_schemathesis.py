"""Property-based checks of the demo API against its own OpenAPI document.

Schemathesis generates requests from `/openapi.json` (a bounded number per operation) and
checks that no response is a server error and that every response matches what the
document says (status codes, content types, bodies).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.schemas import OpenApiSchema
from tests.apps.conftest import FAST_HASHER

from ferry.server.testing import run_in_thread
from users_api.main import create_app
from users_api.settings import Settings


@pytest.fixture(scope="module")
def users_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenApiSchema]:
    database = Path(tmp_path_factory.mktemp("schemathesis")) / "users.db"
    settings_ = Settings(database_url=f"sqlite:///{database}", token_ttl_s=3600)
    app = create_app(settings_, hasher=FAST_HASHER)
    with run_in_thread(app, access_log=False) as base_url:
        yield schemathesis.openapi.from_url(f"{base_url}/openapi.json")


@pytest.mark.slow
def test_the_api_answers_as_its_document_says(users_schema: OpenApiSchema) -> None:
    operations = [result.ok() for result in users_schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate()

        check()
