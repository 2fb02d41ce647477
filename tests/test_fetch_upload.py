"""GuardedClient.put_stream: a streamed upload keeps the guard (address rules, no redirects)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from hansa.errors import HansaError
from hansa.fetch import GuardedClient
from hansa.settings import HttpSettings


def _resolver(host: str, port: int) -> Sequence[str]:
    names = {"private.test": ["10.0.0.8"], "rebind.test": ["93.184.216.34", "127.0.0.1"]}
    return names.get(host, [host])


def _chunks() -> Iterator[bytes]:
    yield b"never sent"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://10.1.2.3/in", "net.forbidden_target"),
        ("https://192.168.7.1:8443/in", "net.forbidden_target"),
        ("https://private.test/in", "net.forbidden_target"),
        ("https://rebind.test/in", "net.forbidden_target"),
        ("http://example.org/in", "net.insecure_scheme"),
        ("https://user@example.org/in", "net.invalid_url"),
        ("ftp://example.org/in", "net.insecure_scheme"),
    ],
)
def test_an_upload_to_a_refused_target_never_connects(url: str, code: str) -> None:
    with (
        GuardedClient(HttpSettings(), resolver=_resolver) as client,
        pytest.raises(HansaError) as refused,
    ):
        client.put_stream(url, _chunks())
    assert refused.value.code == code
