"""Throwaway PostgreSQL databases for the tests, on the cluster ``scripts/services.sh`` starts.

``ALCHEMY_TEST_POSTGRES`` is the admin URL of that cluster (``make test`` sets it). A pytest
session creates one template database holding Dagster's schema, then each test gets a copy
of it (``CREATE DATABASE ... TEMPLATE``: a file copy, no migrations) that is dropped after.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg2
from psycopg2 import sql

ENV = "ALCHEMY_TEST_POSTGRES"


def admin_url() -> str | None:
    """The cluster's admin URL, or None when the tests run without Postgres."""
    return os.environ.get(ENV) or None


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def storage_config(url: str) -> dict[str, object]:
    """Instance ``storage`` config (dagster.yaml) keeping runs, events and schedules in ``url``.

    The driver is named: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, while
    dagster-postgres ships (and retries on the errors of) psycopg2.
    """
    _, _, rest = url.partition("://")
    return {"postgres": {"postgres_url": f"postgresql+psycopg2://{rest}"}}


class Databases:
    """Creates and drops databases named ``<prefix>_<n>`` on one cluster."""

    def __init__(self, url: str) -> None:
        self.url = url
        # Unique per session, even when a killed session left its databases behind.
        self.prefix = f"alchemy_test_{uuid.uuid4().hex[:12]}"
        self._numbers = itertools.count()

    def _execute(self, statement: sql.Composable) -> None:
        conn = psycopg2.connect(self.url)
        try:
            conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    def create(self, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``); returns its name."""
        name = f"{self.prefix}_{next(self._numbers)}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._execute(statement)
        return name

    def drop(self, name: str) -> None:
        self._execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def url_of(self, name: str) -> str:
        return _with_database(self.url, name)

    @contextmanager
    def database(self, template: str | None = None) -> Iterator[str]:
        """A database for the duration of the block; yields its URL."""
        name = self.create(template)
        try:
            yield self.url_of(name)
        finally:
            self.drop(name)


def create_dagster_template(databases: Databases, home: str) -> str:
    """A database with Dagster's instance schema, ready to be copied; returns its name."""
    name = databases.create()
    with dg.instance_for_test(
        temp_dir=home, overrides={"storage": storage_config(databases.url_of(name))}
    ):
        pass  # opening the instance creates and stamps every table
    return name
