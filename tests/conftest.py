"""Suite-wide settings: small thread pools (CI has 2 cores), deterministic seeds, offscreen Qt."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("AOI_RECORDS_URL", None)  # never a developer's plant database: tests pick their own

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def postgres_server():  # noqa: ANN201 - tests/_pg.PostgresServer
    """A throwaway PostgreSQL cluster for the whole session (tests/_pg.py); skipped with the reason
    when no server binaries are installed."""
    from _pg import SKIP_REASON, PostgresServer, find_binaries

    bindir = find_binaries()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:  # noqa: ANN001
    """The URL of an empty PostgreSQL database (no tables) for one test."""
    postgres_server.reset()
    return postgres_server.url
