"""``rediss://`` and ``rediss+cluster://``: TLS-only local redis-servers, with a CA and
certificates made for the test.

The URL's query carries redis-py's TLS options (``ssl_ca_certs``, ``ssl_certfile``,
``ssl_keyfile``, ``ssl_cert_reqs``, ``ssl_check_hostname``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qtasks import QueueTasks
from qtasks.core.errors import BrokerError
from qtasks.testing import drain
from tests.redis_cluster import (
    TLS_FIRST_PORT,
    Certificates,
    RedisServer,
    free_ports,
    local_cluster,
    servers,
)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.make(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates) -> Iterator[str]:
    """``host:port`` of a TLS-only server."""
    (port,) = free_ports(1, TLS_FIRST_PORT)
    options = ("--tls-port", str(port), *certificates.server_options())
    directory = tmp_path_factory.mktemp("redis-tls")
    with servers(lambda: RedisServer(directory, port, *options)):
        yield f"127.0.0.1:{port}"


def run_one_task(url: str) -> None:
    app = QueueTasks(broker_url=url)

    @app.task
    def double(x: int) -> int:
        return 2 * x

    record = double.add_task(21)
    assert drain(app) == 1
    final = app.wait_result(record.uuid, timeout=10)
    assert final is not None and final.status == "success" and final.returning == 42
    app.close()


def test_rediss_with_the_servers_ca(address: str, certificates: Certificates) -> None:
    run_one_task(f"rediss://{address}/0?ssl_ca_certs={certificates.ca}")


def test_rediss_with_a_client_certificate(address: str, certificates: Certificates) -> None:
    run_one_task(
        f"rediss://{address}/0?ssl_ca_certs={certificates.ca}"
        f"&ssl_certfile={certificates.client_cert}&ssl_keyfile={certificates.client_key}"
    )


def test_an_unknown_certificate_authority_is_refused(address: str) -> None:
    app = QueueTasks(broker_url=f"rediss://{address}/0")  # the system's CAs only
    assert app.ping() is False
    with pytest.raises(BrokerError, match="certificate verify failed"):
        app.add_task("anything")


def test_plain_redis_to_a_tls_port_fails_clearly(address: str) -> None:
    app = QueueTasks(broker_url=f"redis://{address}/0")
    with pytest.raises(BrokerError, match=address):
        app.add_task("anything")


def test_rediss_cluster(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> None:
    with local_cluster(tmp_path_factory.mktemp("redis-tls-cluster"), certificates) as url:
        assert url.startswith("rediss+cluster://")
        run_one_task(f"{url}?ssl_ca_certs={certificates.ca}")
