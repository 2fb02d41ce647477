"""One running federation (clearing house, provider, consumer over HTTPS) shared by e2e tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hansa.demo.federation import LocalFederation
from ports import free_port_block


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    root: Path = tmp_path_factory.mktemp("federation")
    with LocalFederation(root, base_port=free_port_block()) as running:
        yield running
