"""Every broker URL is checked in full when the app is made, on every scheme: each mistake
is a ConfigurationError naming it (and the form expected), every documented form passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import qtasks.asyncio
from qtasks import QueueTasks
from qtasks.brokers.memory import MemoryBroker
from qtasks.brokers.postgres import PostgresBroker, PostgresSettings
from qtasks.brokers.redis import RedisBroker, RedisTarget
from qtasks.brokers.sqlite import SQLiteBroker
from qtasks.brokers.urls import broker_factory, shown
from qtasks.core.errors import ConfigurationError, UnknownTransportError

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECRET = "hunter2"

#: (URL, a piece of the message it must raise). ``hunter2`` is a password: never shown.
MISTAKES: list[tuple[str, str]] = [
    # no '//' after the scheme: the expected form is named
    ("redis:/127.0.0.1:6379/0", "redis URL needs '//' after the scheme: redis://"),
    ("redis:127.0.0.1:6379/0", "needs '//' after the scheme"),
    ("rediss:/h:6380/0", "needs '//' after the scheme: rediss://"),
    ("redis+cluster:/a:7000,b:7001", "needs '//' after the scheme: redis+cluster://"),
    ("rediss+cluster:a:7000", "needs '//' after the scheme: rediss+cluster://"),
    ("redis+sentinel:/s1:26379/mymaster", "/service_name[/db]"),
    ("postgresql:/127.0.0.1/app", "needs '//' after the scheme: postgresql://"),
    ("postgres:app", "needs '//' after the scheme: postgres://"),
    ("sqlite:q.db", "needs '//' after the scheme: sqlite:///relative/path.db"),
    ("sqlite:/q.db", "sqlite:////absolute/path.db"),
    ("memory:tests", "needs '//' after the scheme: memory://name"),
    # an empty host where one is needed
    ("redis://", "the host is missing"),
    ("redis://:6379/0", "the host is missing"),
    (f"redis://:{SECRET}@/0", "the host is missing"),
    ("rediss:///0", "the host is missing"),
    ("redis+cluster://", "the host is missing"),
    ("redis+cluster://a:7000,,b", "the host is missing"),
    ("redis+sentinel:///mymaster", "the host is missing"),
    ("sqlite://host/q.db", "there is no host"),
    # ports
    ("redis://h:abc/0", "port 'abc' is not a number from 1 to 65535"),
    ("redis://h:0/0", "port '0' is not a number"),
    ("redis://h:65536/0", "port '65536' is not a number"),
    ("redis://h:/0", "a ':' with no port"),
    ("rediss+cluster://a:7000,b:x", "port 'x'"),
    ("redis+sentinel://s1:99999/mymaster", "port '99999'"),
    ("postgresql://h:abc/app", "port 'abc'"),
    ("postgresql://h:70000/app", "port '70000'"),
    ("postgresql://h1:5432,h2:x/app", "port 'x'"),
    ("postgresql://h/app?port=abc", "port 'abc'"),
    ("postgresql://h:/app", "a ':' with no port"),
    # database paths
    ("redis://h/x", "'x' is not a whole number >= 0"),
    ("redis://h/-1", "'-1' is not a whole number >= 0"),
    ("redis://h/0/1", "'0/1' is not a whole number"),
    ("redis://h//0", "is not a whole number"),
    ("rediss://h/1.5", "'1.5' is not a whole number"),
    ("redis://h/0?db=3", "the database is given twice"),
    (f"redis+cluster://u:{SECRET}@a:7000/3", "only database 0"),
    ("redis+sentinel://s1/mymaster/x", "service_name"),
    ("redis+sentinel://s1/mymaster/-1", "service_name"),
    ("postgresql://h/app/extra", "'app/extra' has a '/'"),
    # unknown options: each transport lists the ones it takes
    ("redis://h/0?bogus=1", "unknown option 'bogus'; redis URLs take: client_name, db,"),
    ("redis://h/0?socket_timeot=1", "did you mean 'socket_timeout'?"),
    ("redis://h/0?decode_responses=true", "unknown option 'decode_responses'"),
    ("redis://h/0?timeout=1", "unknown option 'timeout'"),
    ("rediss://h/0?ssl_cafile=/ca.pem", "rediss URLs take:"),
    ("redis+cluster://a:7000?retry_on_timeout=1", "redis+cluster URLs take: client_name"),
    ("rediss+cluster://a:7000?ssl_ca_path=/etc", "unknown option 'ssl_ca_path'"),
    ("redis+sentinel://s1/mymaster?db=2", "redis+sentinel URLs take:"),
    ("sqlite:///q.db?bogus=1", "sqlite URLs take: busy_timeout, poll_max"),
    ("sqlite:///q.db?timeout=5", "unknown option 'timeout'"),
    ("memory://tests?bogus=1", "memory://name, with no path or options"),
    ("postgresql://h/app?bogus=1", "qtasks' options are listen, poll_max, pool_max"),
    ("postgresql://h/app?sslmod=require", "did you mean 'sslmode'?"),
    # TLS options on a URL without TLS
    ("redis://h/0?ssl_ca_certs=/ca.pem", "is for TLS: write rediss://"),
    ("redis+cluster://a:7000?ssl_cert_reqs=none", "is for TLS: write rediss+cluster://"),
    ("redis+sentinel://s1/mymaster?ssl_ca_certs=/ca.pem", "Sentinel URLs lack"),
    # bad option values
    ("redis://h/0?socket_timeout=x", "socket_timeout='x' takes a number > 0"),
    ("redis://h/0?socket_timeout=0", "takes a number > 0"),
    ("redis://h/0?socket_connect_timeout=-1", "takes a number > 0"),
    ("redis://h/0?socket_keepalive=off", "takes true or false"),
    ("redis://h/0?retry_on_timeout=maybe", "takes true or false"),
    ("redis://h/0?max_connections=0", "takes a whole number >= 1"),
    ("redis://h/0?health_check_interval=1.5", "takes a whole number >= 0"),
    ("redis://h/0?protocol=4", "takes one of 2, 3"),
    ("redis://h/0?socket_timeout=", "option 'socket_timeout' has no value"),
    ("redis://h/0?socket_timeout=1&socket_timeout=2", "'socket_timeout' is given twice"),
    ("rediss://h/0?ssl_cert_reqs=maybe", "takes one of none, optional, required"),
    ("rediss://h/0?ssl_min_version=TLSv1_2", "771 (TLS 1.2)"),
    ("rediss+cluster://a?ssl_check_hostname=nope", "takes true or false"),
    (f"redis+sentinel://s1/m?sentinel_password={SECRET}&socket_timeout=x", "takes a number"),
    ("sqlite:///q.db?poll_max=0", "poll_max='0' takes a number > 0"),
    ("sqlite:///q.db?poll_max=inf", "takes a number > 0"),
    ("sqlite:///q.db?poll_max=x", "takes a number > 0"),
    ("sqlite:///q.db?busy_timeout=-1", "busy_timeout='-1' takes a number >= 0"),
    ("sqlite:///q.db?busy_timeout=1&busy_timeout=2", "given twice"),
    ("postgresql://h/app?listen=2", "listen='2' takes 0 or 1"),
    ("postgresql://h/app?prepare=yes", "takes 0 or 1"),
    ("postgresql://h/app?schema=bad-name", "letters, digits and _"),
    ("postgresql://h/app?pool_max=0", "pool_max='0' takes a whole number >= 1"),
    ("postgresql://h/app?pool_max=2.5", "takes a whole number >= 1"),
    ("postgresql://h/app?poll_max=soon", "takes a number > 0"),
    ("postgresql://h/app?poll_max=nan", "takes a number > 0"),
    ("postgresql://h/app?schema=a&schema=b", "'schema' is given twice"),
    ("postgresql://h/app?sslmode=bogus", "sslmode='bogus' takes one of disable, allow"),
    ("postgresql://h/app?target_session_attrs=writable", "takes one of any, read-write"),
    ("postgresql://h/app?connect_timeout=soon", "takes a whole number >= 0"),
    ("postgresql://h/app?keepalives=2", "takes one of 0, 1"),
    # a Sentinel URL without its service name
    ("redis+sentinel://s1:26379", "names the service after the hosts"),
    ("redis+sentinel://s1,s2:5000/", "/service_name[/db]"),
    (f"redis+sentinel://:{SECRET}@s1:26379", "service_name"),
    # SQLite paths that are directories, or no file at all
    ("sqlite:////", "/ is a directory; name the file in it: sqlite:////qtasks.sqlite3"),
    ("sqlite:////tmp", "/tmp is a directory"),
    ("sqlite:///data/", "is a directory"),
    ("sqlite:///:memory:", "use memory://"),
    # blanks and control characters (urllib drops tabs and newlines; libpq end blanks)
    (" redis://h/0", "blank space at the start or end"),
    ("redis://h/0 ", "blank space at the start or end"),
    ("redis://h/0\n", "control character '\\n' at position 11"),
    ("redis://h\t/0", "control character '\\t'"),
    ("redis://h /0", "a space is not allowed in a redis URL: write it as %20"),
    ("postgresql://h/app ", "blank space at the start or end"),
    ("postgresql://h /app", "a space is not allowed in a postgresql URL"),
    ("postgresql://h/app\r", "control character '\\r'"),
    ("sqlite:///q.db\n", "control character"),
    ("sqlite:///q.db ", "blank space at the start or end"),
    ("memory://tests\x00", "control character '\\x00'"),
    # a scheme in another case
    ("REDIS://h/0", "write the scheme in lower case: redis://"),
    ("Redis://h/0", "lower case: redis://"),
    ("REDISS://h/0", "lower case: rediss://"),
    ("Redis+Cluster://a:7000", "lower case: redis+cluster://"),
    ("REDIS+SENTINEL://s1/m", "lower case: redis+sentinel://"),
    ("SQLITE:///q.db", "lower case: sqlite://"),
    ("Memory://x", "lower case: memory://"),
    ("POSTGRESQL://h/app", "lower case: postgresql://"),
    ("Postgres://h/app", "lower case: postgres://"),
    # the rest
    (f"redis://:pa#{SECRET}@h/0", "write a '#' in a password as %23"),
    ("sqlite:///q#1.db", "a '#' cannot be in an SQLite path"),
    ("memory://x#y", "a '#' cannot be in a memory name"),
    ("memory://x/y", "memory://name, with no path"),
    ("redis://h1,h2/0", "one server only (several hosts: redis+cluster://...)"),
    ("redis://::1/0", "write an IPv6 address as [::1]:6379"),
    ("redis://[::1/0", "IPv6"),
]


@pytest.mark.parametrize(("url", "message"), MISTAKES)
def test_each_mistake_is_named_when_the_app_is_made(url: str, message: str) -> None:
    for make in (QueueTasks, qtasks.asyncio.QueueTasks):
        with pytest.raises(ConfigurationError) as info:
            make(broker_url=url)
        text = str(info.value)
        assert message in text, text
        assert SECRET not in text  # the password is masked, whatever the URL's shape
        assert not isinstance(info.value, UnknownTransportError)


def test_a_directory_named_as_the_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory; name the file in it") as info:
        QueueTasks(broker_url=f"sqlite:///{tmp_path}")
    assert f"sqlite:///{tmp_path / 'qtasks.sqlite3'}" in str(info.value)


def test_the_mistake_of_the_issue_never_reaches_redis_py() -> None:
    """``redis:/`` (one slash) used to pass, ping True, and serve localhost db 0."""
    with pytest.raises(ConfigurationError, match=r"redis://\[\[user\]:password@\]host"):
        QueueTasks(broker_url="redis:/127.0.0.1:6379/0")
    with pytest.raises(ConfigurationError):
        RedisTarget.parse("redis:/127.0.0.1:6379/0")


def test_not_a_url_at_all() -> None:
    for text in ("localhost:6379", "/srv/q.db", "q.sqlite3"):
        with pytest.raises(UnknownTransportError, match="is not a broker URL: it starts with"):
            broker_factory(text)


#: Each valid form, and the transport it reaches.
VALID: list[tuple[str, type[object]]] = [
    ("sqlite://", SQLiteBroker),
    ("sqlite:///", SQLiteBroker),
    ("sqlite:///qtasks.db", SQLiteBroker),
    ("sqlite:///data/qtasks.db", SQLiteBroker),
    ("sqlite:////srv/app/qtasks.db", SQLiteBroker),
    ("sqlite:////srv/app/qtasks.db?poll_max=0.05&busy_timeout=30", SQLiteBroker),
    ("sqlite:///q.db?busy_timeout=0", SQLiteBroker),
    ("sqlite:////srv/my app/q.db", SQLiteBroker),  # a space in a path is a file's name
    ("memory://", MemoryBroker),
    ("memory://tests", MemoryBroker),
    ("memory://my tests", MemoryBroker),
    ("redis://127.0.0.1:6379/0", RedisBroker),
    ("redis://localhost", RedisBroker),
    ("redis://localhost/", RedisBroker),
    ("redis://h?db=3", RedisBroker),
    ("redis://user:password@redis.internal:6379/2", RedisBroker),
    ("redis://:pw%23with%40signs@h:6379/2", RedisBroker),
    ("redis://[::1]:6379/0", RedisBroker),
    (
        "redis://h/0?socket_timeout=2.5&socket_connect_timeout=1&health_check_interval=30",
        RedisBroker,
    ),
    (
        "redis://h/0?max_connections=10&protocol=3&socket_keepalive=true&retry_on_timeout=no",
        RedisBroker,
    ),
    ("redis://h/0?client_name=billing", RedisBroker),
    ("rediss://redis.internal:6380/0", RedisBroker),
    (
        "rediss://redis.internal:6380/0?ssl_ca_certs=/etc/qtasks/ca.pem"
        "&ssl_certfile=/etc/qtasks/client.pem&ssl_keyfile=/etc/qtasks/client.key",
        RedisBroker,
    ),
    ("rediss://h/0?ssl_cert_reqs=none&ssl_check_hostname=false", RedisBroker),
    ("rediss://h/0?ssl_min_version=771&ssl_ciphers=HIGH", RedisBroker),
    ("redis+cluster://redis-1:7000,redis-2:7000,redis-3:7000", RedisBroker),
    ("redis+cluster://a:7000/0", RedisBroker),
    ("redis+cluster://a:7000?socket_timeout=2&max_connections=20", RedisBroker),
    ("rediss+cluster://user:pw@redis-1:7000?ssl_ca_certs=/ca.pem", RedisBroker),
    ("rediss+cluster://u:p@a:7000,[::1]:7001,b?ssl_cert_reqs=none", RedisBroker),
    (
        "redis+sentinel://:masterpw@sentinel-1:26379,sentinel-2:26379/mymaster/0"
        "?sentinel_password=sentinelpw",
        RedisBroker,
    ),
    ("redis+sentinel://s1/mymaster", RedisBroker),
    ("redis+sentinel://s1,s2:5000/mymaster/3?sentinel_username=u&socket_timeout=2", RedisBroker),
    ("postgresql://", PostgresBroker),
    ("postgresql:///app", PostgresBroker),
    ("postgresql:///app?host=/run/postgresql", PostgresBroker),
    (
        "postgresql://qtasks:secret@db.internal:5432/app?sslmode=verify-full"
        "&sslrootcert=/etc/ssl/db-ca.pem",
        PostgresBroker,
    ),
    ("postgres://localhost/app?schema=queues", PostgresBroker),
    ("postgresql://h1:5432,h2:5433/app?target_session_attrs=read-write", PostgresBroker),
    ("postgresql://[::1]:5432/app", PostgresBroker),
    ("postgresql://u:p%23w@h/app?options=-c%20synchronous_commit%3Doff", PostgresBroker),
    ("postgresql://u:pa#ss@h/app?schema=s", PostgresBroker),  # '#' is literal to libpq
    ("postgresql://h/app?listen=0&prepare=0&poll_max=0.2&pool_max=8", PostgresBroker),
    ("postgresql://h/app?connect_timeout=3&application_name=shop&keepalives=1", PostgresBroker),
    ("postgresql://h/app?ssl=true", PostgresBroker),
]


@pytest.mark.parametrize(("url", "transport"), VALID)
def test_valid_forms_are_accepted(
    url: str, transport: type[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative SQLite files land here
    assert isinstance(broker_factory(url)(), transport)
    assert QueueTasks(broker_url=url).broker_url.startswith(url.partition(":")[0] + "://")


def test_the_options_of_a_valid_url_reach_the_transport() -> None:
    target = RedisTarget.parse("redis://u:pw@[::1]:6380/4?socket_timeout=2")
    assert (target.kind, target.hosts, target.options_url) == (
        "server",
        (("::1", 6380),),
        "redis://u:pw@[::1]:6380/4?socket_timeout=2",
    )
    settings = PostgresSettings.from_url("postgresql://u:pa#ss@h:5433/app?schema=s&pool_max=8")
    assert (settings.schema, settings.pool_max, settings.password) == ("s", 8, "pa#ss")
    assert settings.conninfo == "postgresql://u:pa#ss@h:5433/app"
    assert settings.location == "h:5433/app"


#: URLs in docs/transports.md that the page itself says are refused.
_DOCUMENTED_MISTAKES = {
    "sqlite://host/x.db",
    "sqlite:///:memory:",
    # the page's example of the errors, and the messages it shows (passwords masked)
    "redis://:s3cret@localhost:6379/cache",
    "redis://:***@localhost:6379/cache",
    "postgresql://qtasks:s3cret@localhost/app?shema=queues",
    "postgresql://qtasks:***@localhost/app?shema=queues",
    "sqlite://data/qtasks.db",
}
_DOC_URL = re.compile(
    r"(?<![\w+])((?:sqlite|memory|rediss?(?:\+cluster|\+sentinel)?|postgres(?:ql)?)"
    r"://[^\s`\"'()<>]*)"
)


def documented_urls() -> list[str]:
    """Every URL docs/transports.md shows, bar scheme names (``redis://`` alone in a
    sentence) and the pattern of a form (``[user:password@]...``)."""
    found = []
    for match in _DOC_URL.finditer((DOCS / "transports.md").read_text(encoding="utf-8")):
        url = match.group(1).rstrip(".,;")
        bare = url.endswith("://") and not url.startswith(("sqlite", "memory", "postgres"))
        if "..." in url:  # an elided one (`postgresql://...: schema up to date`)
            continue
        if not bare and "[" not in url.partition("@")[0] + url.partition("?")[2]:
            found.append(url)
    return found


def test_every_url_of_the_transports_page_is_accepted_or_refused_as_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    urls = documented_urls()
    assert len(urls) >= 15 and "redis://127.0.0.1:6379/0" in urls  # the page was read
    assert set(urls) >= _DOCUMENTED_MISTAKES
    for url in urls:
        if url in _DOCUMENTED_MISTAKES:
            with pytest.raises(ConfigurationError):
                broker_factory(url)
        else:
            broker_factory(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://u:pw@h/0", "redis://u:***@h/0"),
        ("redis:/:pw@h/0", "redis:/:***@h/0"),  # masked even in a malformed URL
        ("postgresql://u:p#w@h/db?sslpassword=x", "postgresql://u:***@h/db?sslpassword=***"),
        (
            "redis+sentinel://s/m?sentinel_password=x&db=1",
            "redis+sentinel://s/m?sentinel_password=***&db=1",
        ),
        ("sqlite:////tmp/q.db", "sqlite:////tmp/q.db"),
    ],
)
def test_errors_show_urls_without_passwords(url: str, expected: str) -> None:
    assert shown(url) == expected
