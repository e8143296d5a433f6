"""The HTTP server over real sockets: HTTPS, client certificates (mutual TLS), stalled handshakes.

Certificates come from a throw-away CA made with the ``openssl`` command for each test module;
they are valid from now for a day, so nothing depends on the date the tests run.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from alerter.config.engine import ServerTLS
from alerter.core.errors import ConfigError
from alerter.service.server import Response, Server, tls_context

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "1", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip


def _leaf(directory: Path, name: str, ca: str, extension: str) -> None:
    (directory / f"{name}.ext").write_text(extension + "\n")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "test-ca")
    _ca(d, "rogue-ca")
    _leaf(d, "localhost", "test-ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    _leaf(d, "ops-laptop", "test-ca", "extendedKeyUsage=clientAuth")
    _leaf(d, "intruder", "rogue-ca", "extendedKeyUsage=clientAuth")
    return Pki(
        d / "test-ca.pem",
        d / "localhost.pem",
        d / "localhost.key",
        d / "ops-laptop.pem",
        d / "ops-laptop.key",
        d / "intruder.pem",
        d / "intruder.key",
    )


def _tls(pki: Pki, *, clients: bool) -> ServerTLS:
    return ServerTLS(
        cert_file=str(pki.server_cert),
        key_file=str(pki.server_key),
        client_ca_file=str(pki.ca) if clients else None,
    )


def _serve(tls: ssl.SSLContext | None) -> Server:
    server = Server("127.0.0.1:0", tls)
    server.route("GET", "/whoami", lambda r: Response.text(r.peer or "-"))
    server.start()
    return server


@pytest.fixture
def https(pki: Pki) -> Iterator[Server]:
    server = _serve(tls_context(_tls(pki, clients=False)))
    yield server
    server.stop()


@pytest.fixture
def mtls(pki: Pki) -> Iterator[Server]:
    server = _serve(tls_context(_tls(pki, clients=True)))
    yield server
    server.stop()


def _client(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def _get(server: Server, context: ssl.SSLContext | None, path: str = "/whoami") -> tuple[int, str]:
    scheme = "https" if context is not None else "http"
    url = f"{scheme}://127.0.0.1:{server.port}{path}"
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.status, response.read().decode()


def test_https_serves_clients_that_trust_the_ca(https: Server, pki: Pki) -> None:
    assert _get(https, _client(pki)) == (200, "-")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        _get(https, None)  # plain HTTP to a TLS port gets no answer
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(https, ssl.create_default_context())  # a client that does not know the CA refuses


def test_mutual_tls_admits_only_certificates_of_the_client_ca(mtls: Server, pki: Pki) -> None:
    assert _get(mtls, _client(pki, pki.client_cert, pki.client_key)) == (200, "ops-laptop")
    for context in (_client(pki), _client(pki, pki.rogue_cert, pki.rogue_key)):
        # TLS 1.3 reports the refused certificate on the first read, after the client's handshake.
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _get(mtls, context)
    assert _get(mtls, _client(pki, pki.client_cert, pki.client_key)) == (200, "ops-laptop")


def test_a_stalled_handshake_does_not_hold_up_other_clients(https: Server, pki: Pki) -> None:
    with socket.create_connection(("127.0.0.1", https.port), timeout=10):
        # This connection never says a word; the next client is served all the same.
        assert _get(https, _client(pki)) == (200, "-")


def test_a_reload_can_switch_tls_on_for_new_connections(pki: Pki) -> None:
    server = _serve(None)
    try:
        assert _get(server, None) == (200, "-")
        server.use_tls(tls_context(_tls(pki, clients=False)))
        assert _get(server, _client(pki)) == (200, "-")
    finally:
        server.stop()


def test_unusable_tls_files_name_their_field(pki: Pki, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError) as caught:
        tls_context(ServerTLS(cert_file=missing, key_file=str(pki.server_key)))
    assert caught.value.path == "server.tls.cert_file"
    with pytest.raises(ConfigError) as caught:
        tls_context(ServerTLS(cert_file=str(pki.server_cert), key_file=str(pki.client_key)))
    assert caught.value.path == "server.tls.cert_file" and "key" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        tls_context(_tls(pki, clients=False).model_copy(update={"client_ca_file": missing}))
    assert caught.value.path == "server.tls.client_ca_file"
