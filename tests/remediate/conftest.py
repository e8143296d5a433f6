"""Fixtures for remediation tests: the local Kubernetes API stand-in and a real client on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from alerter.testing.kubernetes import Cluster, KubeApiServer


@pytest.fixture
def apiserver() -> Iterator[KubeApiServer]:
    """The stand-in without authentication (its ``stall`` leaves paths unanswered)."""
    with KubeApiServer(token=None) as server:
        yield server


@pytest.fixture
def kube(apiserver: KubeApiServer) -> tuple[str, Cluster]:
    return apiserver.url, apiserver.cluster


@pytest.fixture
def cluster(kube: tuple[str, Cluster]) -> Cluster:
    return kube[1]


@pytest.fixture
def api_client(kube: tuple[str, Cluster]) -> Iterator[Any]:
    configuration = client.Configuration()
    configuration.host = kube[0]
    api = client.ApiClient(configuration)
    yield api
    api.close()
