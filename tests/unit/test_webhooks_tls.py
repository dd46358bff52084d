"""Pinned HTTPS delivery: the connection goes to the checked address, while TLS sends the
URL's host name as SNI and verifies the certificate for that name (a local TLS server)."""

from __future__ import annotations

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from workers.settings import Settings
from workers.webhooks import CallbackURLError, post


def self_signed(tmp_path, name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class TLSReceiver:
    def __init__(self, cert_file, key_file):
        self.seen: list[dict] = []
        self.sni: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.seen.append({"host": self.headers.get("host"), "path": self.path})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        context.sni_callback = lambda sock, name, ctx: receiver.sni.append(name)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def settings(**kw) -> Settings:
    # explicit, so that an integration session's PXL_WEBHOOK_ALLOWLIST cannot leak in
    return Settings(_env_file=None, webhook_timeout_seconds=5,
                    **{"webhook_allowlist": [], **kw})


def test_https_goes_to_the_checked_address_with_sni_and_name_verification(tmp_path):
    cert_file, key_file = self_signed(tmp_path, "localhost")
    trust = ssl.create_default_context(cafile=str(cert_file))
    with TLSReceiver(cert_file, key_file) as receiver:
        url = f"https://localhost:{receiver.port}/hook?a=1"
        status = post(url, b"{}", {"content-type": "application/json"},
                      settings(webhook_allowlist=["localhost"]), verify=trust)
    assert status == 204
    assert receiver.sni == ["localhost"]
    assert receiver.seen == [{"host": f"localhost:{receiver.port}", "path": "/hook?a=1"}]


def test_a_certificate_for_another_name_is_refused(tmp_path):
    cert_file, key_file = self_signed(tmp_path, "other.example")
    trust = ssl.create_default_context(cafile=str(cert_file))
    with TLSReceiver(cert_file, key_file) as receiver:
        url = f"https://localhost:{receiver.port}/hook"
        with pytest.raises(httpx.ConnectError):
            post(url, b"{}", {}, settings(webhook_allowlist=["localhost"]), verify=trust)
    assert receiver.seen == []


def test_post_refuses_before_connecting_when_the_guard_says_no(tmp_path):
    cert_file, key_file = self_signed(tmp_path, "localhost")
    with TLSReceiver(cert_file, key_file) as receiver, pytest.raises(CallbackURLError):
        post(f"https://localhost:{receiver.port}/hook", b"{}", {}, settings())
    assert receiver.seen == [] and receiver.sni == []
