"""The OpenAPI document is true: schemathesis generates requests from it and finds no server error
and no response that breaks the documented schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from moderation.app import create_app
from moderation.storage import migrations as migrations
from moderation.storage.db import Database
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi")
    url = f"sqlite:///{tmp / 'api.sqlite3'}"
    migrations.upgrade(url)
    app = create_app(make_settings(tmp, **{"guard.flood_seconds": 0}), database=Database(url))
    client = app.test_client()
    client.post("/api/v1/comments", json={"site": "blog", "uri": "/p/", "text": "seed"})
    return app


def operations(app):
    document = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in document.get_all_operations()]


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_openapi_document_covers_every_widget_route(api_app):
    paths = {op.path for op in operations(api_app)}
    assert paths == {
        "/api/v1/threads/comments",
        "/api/v1/counts",
        "/api/v1/comments",
        "/api/v1/comments/{comment_id}",
        "/api/v1/comments/{comment_id}/vote",
        "/api/v1/likes",
        "/api/v1/preview",
        "/api/v1/me",
        "/api/v1/me/logout",
        "/api/v1/subscriptions",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/moderation/comments",
        "/api/v1/moderation/comments/{comment_id}/{action}",
        "/api/v1/discovery",
    }


def test_api_conforms_to_its_openapi_document(api_app):
    """Generated requests for every operation: no 5xx, and answers match the document."""
    for operation in operations(api_app):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case):
            case.call_and_validate(checks=CHECKS)

        check()
