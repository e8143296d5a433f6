"""Fixtures for remediation tests: a local Kubernetes-API-compatible server and real clients on it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

sys.path.insert(0, str(Path(__file__).parent))

import kubeapi_server


@pytest.fixture
def kube() -> Iterator[tuple[str, kubeapi_server.Cluster]]:
    with kubeapi_server.serve() as (url, cluster):
        yield url, cluster


@pytest.fixture
def cluster(kube: tuple[str, kubeapi_server.Cluster]) -> kubeapi_server.Cluster:
    return kube[1]


@pytest.fixture
def api_client(kube: tuple[str, kubeapi_server.Cluster]) -> Iterator[Any]:
    configuration = client.Configuration()
    configuration.host = kube[0]
    api = client.ApiClient(configuration)
    yield api
    api.close()
