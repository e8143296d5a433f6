"""Fixtures for cluster tests: the local Kubernetes API stand-in and a real client on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from alerter.testing.kubernetes import Cluster, KubeApiServer


@pytest.fixture
def apiserver() -> Iterator[KubeApiServer]:
    """The stand-in without authentication, on a free port of 127.0.0.1, stopped after the test."""
    with KubeApiServer(token=None) as server:
        yield server


@pytest.fixture
def cluster(apiserver: KubeApiServer) -> Cluster:
    return apiserver.cluster


@pytest.fixture
def api_client(apiserver: KubeApiServer) -> Iterator[Any]:
    configuration = client.Configuration()
    configuration.host = apiserver.url
    configuration.retries = 0
    api = client.ApiClient(configuration)
    yield api
    api.close()
