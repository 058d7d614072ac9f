"""Real database servers for tests: a fresh database on this machine's PostgreSQL and MariaDB, dropped afterwards
(../shared/test-infrastructure.md; `make services` starts them if they are down).

Server URLs can be changed with SLUICEWAY_TEST_POSTGRES_URL and SLUICEWAY_TEST_MYSQL_URL (an administrator's URL
without a database). With CI=true a server that cannot be reached fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import unavailable

SERVER_URLS = {
    "postgresql": os.environ.get("SLUICEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mysql": os.environ.get("SLUICEWAY_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"),
}


class scratch_database:
    """A database made for one test on a real server, dropped afterwards."""

    def __init__(self, kind: str) -> None:
        self.admin_url = make_url(SERVER_URLS[kind])
        self.name = f"sluiceway_test_{secrets.token_hex(4)}"

    def __enter__(self) -> str:
        try:
            # Both drivers take connect_timeout: an absent server is reported in seconds, not after TCP's minutes.
            self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
            with self.admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {self.name}"))
        except Exception as error:  # any driver's connection error: the server is not there
            message = f"{self.admin_url.get_backend_name()} at {self.admin_url.host}:{self.admin_url.port} is not reachable: {error}"
            unavailable(message, "start it with `make services`")
        return self.admin_url.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *_: object) -> None:
        with self.admin.connect() as connection:
            if self.admin_url.get_backend_name() == "postgresql":  # connections left by a test would block the drop
                connection.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}'"))
            connection.execute(text(f"DROP DATABASE IF EXISTS {self.name}"))
        self.admin.dispose()
