from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient

from tests.fake_kubernetes import FakeKubernetes


@pytest.fixture
def kube() -> Iterator[FakeKubernetes]:
    """A fresh fake cluster whose pods run `python` as this interpreter."""
    with FakeKubernetes(command_map={"python": sys.executable}) as fake:
        yield fake


@pytest.fixture
def api(kube: FakeKubernetes) -> Iterator[ApiClient]:
    client = kube.api_client()
    yield client
    client.close()
