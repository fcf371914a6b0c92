"""``settings.private_redirects``: a gate's redirect off its own host into the private network.

Real servers on loopback play both the gate's endpoint and the redirect's target. Under
"deny" the target's name is resolved once, every address is checked, and the request
connects to a checked address; a stub resolver plays a rebinding DNS server to show that no
second lookup happens (the system resolver does not know its names at all).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reconciler.gates import Sample
from reconciler.gates.port import ProbeRequest
from reconciler.httpclient.addresses import Address, PrivateRedirects, non_public
from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import HttpGate
from reconciler.probes import HttpProber
from tests.servers.endpoints import Endpoints, redirect, reply, serve

PRETEND_PUBLIC = ipaddress.ip_address("127.0.0.1")  # what the stub resolver's names "are"
REBOUND = ipaddress.ip_address("127.0.0.2")  # what a rebinding server answers next


@pytest.fixture
def server() -> Iterator[Endpoints]:
    with serve() as endpoints:
        yield endpoints


@pytest.fixture
def target() -> Iterator[Endpoints]:
    with serve() as endpoints:
        yield endpoints


def probe(
    url: str, setting: PrivateRedirects, client: HttpClient | None = None, **options: Any
) -> Sample:
    """One sample of a gate on ``url`` that follows any redirect, under ``setting``."""
    gate = HttpGate(name="health", kind="http", url=url, follow_redirects="any", **options)
    prober = HttpProber(client or HttpClient(trust_env=False), environ={})
    [sample] = prober.probe([ProbeRequest(gate, "api", "staging", None, setting)])
    return sample


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("setting", ["allow", "deny"])
def test_a_redirect_to_a_loopback_host_is_followed_only_when_allowed(
    server: Endpoints, target: Endpoints, host: str, setting: PrivateRedirects
) -> None:
    target.routes["/healthz"] = reply(200, b"ok")
    server.routes["/healthz"] = redirect(target.url("/healthz", host=host))

    sample = probe(server.url("/healthz"), setting)

    if setting == "allow":
        assert (sample.ok, sample.detail) == (True, "status 200")
        assert target.paths() == ["/healthz"]
        return
    assert not sample.ok
    assert sample.detail.startswith(
        f"{server.url('/healthz')} redirected to {target.url('/healthz', host=host)}, whose "
        "host resolves to a non-public address (127.0.0.1"
    ), sample.detail
    assert sample.detail.endswith('not followed (private_redirects = "deny")')
    assert target.paths() == [], "the refused target was contacted"


def test_the_metadata_address_is_refused_before_any_connection(server: Endpoints) -> None:
    server.routes["/healthz"] = redirect("http://169.254.169.254/latest/meta-data/")
    sample = probe(server.url("/healthz"), "deny", timeout=dt.timedelta(seconds=5))
    assert not sample.ok
    assert "non-public address (169.254.169.254)" in sample.detail


def test_the_gates_own_private_host_is_probed_and_may_redirect_on_it(server: Endpoints) -> None:
    # The policy's author chose this host: "deny" is about where a redirect leads off it.
    server.routes["/healthz"] = redirect("/healthz/", 301)
    server.routes["/healthz/"] = reply(200, b"ok")
    assert probe(server.url("/healthz"), "deny").ok
    assert server.paths() == ["/healthz", "/healthz/"]


class StubResolver:
    """A DNS server that answers ``first`` once and ``later`` after (a rebinding attack)."""

    def __init__(self, first: Sequence[Address], later: Sequence[Address] = (REBOUND,)) -> None:
        self.answers = [tuple(first), tuple(later)]
        self.asked: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, host: str, port: int) -> Sequence[Address]:
        with self.lock:
            self.asked.append((host, port))
            return self.answers[min(len(self.asked), 2) - 1]


def refused_except_pretend_public(address: Address) -> bool:
    """The real rule, except that 127.0.0.1 plays a public address."""
    return address != PRETEND_PUBLIC and non_public(address)


def test_the_request_connects_to_the_address_that_was_checked(
    server: Endpoints, target: Endpoints
) -> None:
    resolver = StubResolver([PRETEND_PUBLIC])
    client = HttpClient(trust_env=False, resolver=resolver, refused=refused_except_pretend_public)
    target.routes["/healthz"] = reply(200, b"ok")
    server.routes["/healthz"] = redirect(f"http://public.test:{target.port}/healthz")

    sample = probe(server.url("/healthz"), "deny", client)

    assert (sample.ok, sample.detail) == (True, "status 200")
    assert resolver.asked == [("public.test", target.port)], "looked up more than once"
    [seen] = target.received
    assert seen.headers["Host"] == f"public.test:{target.port}"


def test_one_non_public_address_among_public_ones_refuses_the_redirect(
    server: Endpoints, target: Endpoints
) -> None:
    resolver = StubResolver([PRETEND_PUBLIC, REBOUND])
    client = HttpClient(trust_env=False, resolver=resolver, refused=refused_except_pretend_public)
    server.routes["/healthz"] = redirect(f"http://public.test:{target.port}/healthz")

    sample = probe(server.url("/healthz"), "deny", client)

    assert not sample.ok
    assert "non-public address (127.0.0.2)" in sample.detail
    assert target.paths() == []


def test_a_name_that_does_not_resolve_fails_the_sample(server: Endpoints) -> None:
    def no_such_host(host: str, port: int) -> Sequence[Address]:
        raise OSError(-2, "Name or service not known")

    client = HttpClient(trust_env=False, resolver=no_such_host)
    server.routes["/healthz"] = redirect("http://nowhere.test/healthz")
    sample = probe(server.url("/healthz"), "deny", client)
    assert not sample.ok
    assert "cannot connect" in sample.detail or "failed" in sample.detail, sample.detail


def test_a_pinned_https_request_checks_the_certificate_of_the_name(
    server: Endpoints, tmp_path: Path
) -> None:
    # TLS to the checked address still sends the host name (SNI) and verifies the
    # certificate against it, not against the address.
    with tls_server(tmp_path, "public.test") as (port, ca_file):

        def client() -> HttpClient:
            return HttpClient(
                ca_file=str(ca_file),
                trust_env=False,
                resolver=StubResolver([PRETEND_PUBLIC]),
                refused=refused_except_pretend_public,
            )

        server.routes["/healthz"] = redirect(f"https://public.test:{port}/healthz")
        assert probe(server.url("/healthz"), "deny", client()).detail == "status 200"

        server.routes["/healthz"] = redirect(f"https://other.test:{port}/healthz")
        wrong = probe(server.url("/healthz"), "deny", client())
        assert not wrong.ok
        assert "TLS certificate not trusted" in wrong.detail, wrong.detail


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


class tls_server:
    """An HTTPS server on 127.0.0.1 with a certificate for ``name`` only; yields its port
    and the file of the CA certificate that signed it."""

    def __init__(self, root: Path, name: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.cert_file, self.key_file = root / "cert.pem", root / "key.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> tuple[int, Path]:
        self.thread.start()
        return self.httpd.server_address[1], self.cert_file

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("169.254.169.254", True),
        ("fe80::1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("fc00::1", True),
        ("fd12:3456::1", True),
        ("100.100.100.200", True),
        ("0.0.0.0", True),
        ("::", True),
        ("224.0.0.1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:169.254.169.254", True),
        ("192.0.2.10", True),
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("2606:4700:4700::1111", False),
        ("::ffff:8.8.8.8", False),
    ],
)
def test_which_addresses_are_non_public(address: str, refused: bool) -> None:
    assert non_public(ipaddress.ip_address(address)) is refused
