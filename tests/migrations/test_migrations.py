"""The migrated schema is the models' schema, and every revision goes down and up again."""

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from moderation.models import SEARCH_INDEX_NAMES, outside_models
from moderation.storage import migrations
from moderation.storage.db import Base
from tests.conftest import fresh_database_url, setup_engine


@pytest.fixture
def empty_url(db_kind, tmp_path):
    url, drop = fresh_database_url(db_kind, tmp_path)
    yield url
    drop()


def revisions():
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def diff(url):
    engine = setup_engine(url)
    with engine.connect() as conn:
        changes = compare_metadata(
            MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": migrations.compare_server_default,
                    "include_name": outside_models,  # the search index is no model
                },
            ),
            Base.metadata,
        )
    engine.dispose()
    return changes


def tables(url):
    engine = setup_engine(url)
    names = set(sa.inspect(engine).get_table_names()) - {"alembic_version", *SEARCH_INDEX_NAMES}
    engine.dispose()
    return names


def test_migrated_schema_equals_models(empty_url):
    migrations.upgrade(empty_url)
    assert diff(empty_url) == []
    assert tables(empty_url) == set(Base.metadata.tables)


def test_every_revision_goes_down_and_up_again(empty_url):
    revs = revisions()
    assert revs, "no migrations found"
    migrations.upgrade(empty_url)
    for rev in reversed(revs):  # step down one revision at a time, then back up
        before = tables(empty_url)
        command.downgrade(migrations.alembic_config(empty_url), "-1")
        command.upgrade(migrations.alembic_config(empty_url), rev)
        assert tables(empty_url) == before
        command.downgrade(migrations.alembic_config(empty_url), "-1")
    assert tables(empty_url) == set()
    migrations.upgrade(empty_url)
    assert diff(empty_url) == []


def test_migrations_keep_data_across_a_round_trip_of_the_latest_revision(empty_url):
    migrations.upgrade(empty_url)
    engine = setup_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO threads (site, uri, title, created_at, closed, "
                "approved_count, version) VALUES ('blog', '/p/', 't', "
                "'2026-01-01 00:00:00', false, 0, 0)"
            )
        )
    engine.dispose()
    revs = revisions()
    if len(revs) > 1:
        migrations.downgrade(empty_url, revs[-2])
        migrations.upgrade(empty_url)
    engine = setup_engine(empty_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT uri FROM threads")).scalar() == "/p/"
    engine.dispose()


def test_schema_comparison_notices_a_drift(empty_url):
    """The equality above means something: an extra column is reported."""
    migrations.upgrade(empty_url)
    engine = setup_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE threads ADD COLUMN stray INTEGER"))
    engine.dispose()
    assert any(change[0] == "remove_column" for change in diff(empty_url))


def test_check_constraints_survive_a_round_trip(empty_url):
    """SQLite batch rebuilds can silently drop CHECK constraints; ours must still hold at head."""
    migrations.upgrade(empty_url)
    migrations.downgrade(empty_url, "base")
    migrations.upgrade(empty_url)
    engine = setup_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO threads (id, site, uri, title, created_at, closed, "
                "approved_count, version) VALUES (1, 'b', '/p/', '', "
                "'2026-01-01 00:00:00', false, 0, 0)"
            )
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO comments (thread_id, kind, status, text, html, created_at, "
                "discarded) VALUES (1, 'comment', 'approved', 't', 't', "
                "'2026-01-01 00:00:00', false)"
            )
        )
    engine.dispose()


def test_revision_0017_rescales_the_learned_counts_to_the_decision_weight(empty_url):
    """Counts learned at one per decision become DECISION_WEIGHT per decision (so a reversed old
    decision takes back what it added); logistic weights stay; going down divides again."""
    from moderation.scorers.classifier.model import DECISION_WEIGHT

    migrations.upgrade(empty_url, "0016")
    engine = setup_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO classifier_counts (feature, spam, ham) VALUES "
                "('', 3, 5), ('w:cheap', 2, 0.5), ('lr:w:cheap', 0.25, 1.5)"
            )
        )

    def rows():
        with engine.connect() as conn:
            query = "SELECT feature, spam, ham FROM classifier_counts ORDER BY feature"
            return [tuple(r) for r in conn.execute(sa.text(query))]

    migrations.upgrade(empty_url)
    w = DECISION_WEIGHT
    assert rows() == [("", 3 * w, 5 * w), ("lr:w:cheap", 0.25, 1.5), ("w:cheap", 2 * w, 0.5 * w)]
    migrations.downgrade(empty_url, "0016")
    assert rows() == [("", 3.0, 5.0), ("lr:w:cheap", 0.25, 1.5), ("w:cheap", 2.0, 0.5)]
    engine.dispose()
