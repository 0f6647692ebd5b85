"""MQTT over TLS with a user name and password, against a Mosquitto of the test's own."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from andon.connect.mqtt_json import MqttJsonSource
from andon.core.batch import Batch
from andon.core.stream import Item
from andon.plant.sources import MqttSource, Tls

PASSWORD_ENV = "ANDON_TEST_MQTT_PASSWORD"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_pki(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (files: ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("andon test CA"))
        .issuer_name(_name("andon test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, paths[2])
    return paths


@pytest.fixture
def tls_broker(private_broker, tmp_path: Path):
    """The private broker, now listening with TLS and requiring a password."""
    ca, cert, key = make_pki(tmp_path)
    users = tmp_path / "passwd"
    users.write_text("")
    subprocess.run(
        ["mosquitto_passwd", "-b", str(users), "andon", "s3cret-for-tests"],
        check=True,
        capture_output=True,
    )
    conf = Path(private_broker.conf)
    text = conf.read_text().replace(
        f"listener {private_broker.port} 127.0.0.1\n",
        f"listener {private_broker.port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n",
    )
    text = text.replace("allow_anonymous true\n", f"allow_anonymous false\npassword_file {users}\n")
    conf.write_text(text)
    for path in (cert, key, users):
        path.chmod(0o644)
    private_broker.stop()
    private_broker.start()
    return private_broker, ca


def _config(port: int, ca: Path, prefix: str) -> MqttSource:
    return MqttSource(
        type="mqtt",
        name="tls",
        url=f"mqtts://127.0.0.1:{port}",
        prefix=prefix,
        username="andon",
        password_env=PASSWORD_ENV,
        tls=Tls(ca=str(ca)),
    )


def _publish(port: int, ca: Path, prefix: str, n: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.tls_set(ca_certs=str(ca))
    client.username_pw_set("andon", "s3cret-for-tests")
    client.connect("127.0.0.1", port)
    client.loop_start()
    t0 = time.time_ns() // 1_000_000 - 60_000
    infos = [
        client.publish(
            f"{prefix}/acme/plant/line/m1/speed",
            orjson.dumps({"value": i, "timestamp": t0 + i}),
            qos=1,
        )
        for i in range(n)
    ]
    for info in infos:
        info.wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_tls_and_password_login_deliver_every_message(tls_broker, monkeypatch):
    broker, ca = tls_broker
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-for-tests")
    prefix = f"t{uuid.uuid4().hex[:8]}"

    async def main() -> int:
        source = MqttJsonSource(_config(broker.port, ca, prefix))
        got: list[Item] = []

        async def emit(item: Item) -> None:
            got.append(item)

        task = asyncio.create_task(source.run(emit))
        assert await source.wait_subscribed(10)
        await asyncio.to_thread(_publish, broker.port, ca, prefix, 50)
        deadline = time.monotonic() + 10
        while sum(len(i) for i in got if isinstance(i, Batch)) < 50:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await source.close()
        await task
        return sum(len(i) for i in got if isinstance(i, Batch))

    assert asyncio.run(main()) == 50


def test_a_wrong_password_is_reported_not_crashed(tls_broker, monkeypatch, caplog):
    broker, ca = tls_broker
    monkeypatch.setenv(PASSWORD_ENV, "wrong")

    async def main() -> str:
        source = MqttJsonSource(_config(broker.port, ca, "p"))

        async def emit(item: Item) -> None:
            return None

        task = asyncio.create_task(source.run(emit))
        deadline = time.monotonic() + 10
        while not source.health.last_error and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        connected = source.health.connected
        await source.close()
        await task
        assert not connected
        return source.health.last_error

    asyncio.run(main())
    warnings = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1, warnings  # logged once, not at every retry
    assert "broker refused the connection: Not authorized" in warnings[0]


def test_an_untrusted_broker_certificate_is_refused(tls_broker, monkeypatch, tmp_path):
    broker, _ = tls_broker
    (tmp_path / "other").mkdir()
    other_ca, _, _ = make_pki(tmp_path / "other")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-for-tests")

    async def main() -> tuple[bool, str]:
        source = MqttJsonSource(_config(broker.port, other_ca, "p"))

        async def emit(item: Item) -> None:
            return None

        task = asyncio.create_task(source.run(emit))
        deadline = time.monotonic() + 10
        while not source.health.last_error and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        connected = source.health.connected
        await source.close()
        await task
        return connected, source.health.last_error

    connected, reason = asyncio.run(main())
    assert connected is False
    assert reason, "the refused handshake must be reported"
