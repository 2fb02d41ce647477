"""The AmazonS3 backend against moto's S3 server over real HTTP, with credentials checked.

moto accepts any credentials until its auth counter is switched on; the fixture creates
an IAM user with an S3 policy and a bucket first, then turns checking on through moto's
``/moto-api/reset-auth`` (the in-process twin of INITIAL_NO_AUTH_ACTION_COUNT=0).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from hansa.dataplane.backend_s3 import MIN_PART_SIZE, S3Backend, create_backend
from hansa.dataplane.backends import DataPlaneConfig, S3Config
from hansa.errors import HansaError

MIB = 1_048_576
BUCKET = "hansa-data"
DATA = os.urandom(2 * MIB + 321)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    config: S3Config


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    setup = {
        "endpoint_url": endpoint,
        "region_name": "eu-central-1",
        "aws_access_key_id": "setup",
        "aws_secret_access_key": "setup",
    }
    try:
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="hansa")
        iam.put_user_policy(
            UserName="hansa",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="hansa")["AccessKey"]
        s3_setup = boto3.client("s3", **setup)
        s3_setup.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        s3_setup.put_object(
            Bucket=BUCKET, Key="weather/2026.csv", Body=DATA, ContentType="text/csv"
        )
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
        yield S3Server(
            endpoint,
            S3Config(
                access_key_id=key["AccessKeyId"],
                secret_access_key=key["SecretAccessKey"],
                endpoint_url=endpoint,
                region="eu-central-1",
                part_size=MIN_PART_SIZE,
            ),
        )
    finally:
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"inf")
        server.stop()


@pytest.fixture
def backend(s3: S3Server) -> S3Backend:
    return create_backend(DataPlaneConfig(s3=s3.config))


def address(key: str, **extra: str) -> dict[str, str]:
    return {"type": "AmazonS3", "bucket": BUCKET, "key": key, **extra}


@pytest.mark.parametrize(
    ("offset", "length"), [(0, None), (0, 10), (MIB - 3, MIB + 7), (2 * MIB, None), (7, 0)]
)
def test_reads_whole_and_ranges(backend: S3Backend, offset: int, length: int | None) -> None:
    with backend.open(address("weather/2026.csv"), offset=offset, length=length) as stream:
        chunks = list(stream.chunks)
        assert stream.size == len(DATA)
        assert stream.content_type == "text/csv"
    end = len(DATA) if length is None else offset + length
    assert b"".join(chunks) == DATA[offset:end]
    assert all(len(c) <= MIB for c in chunks)


def test_range_past_the_end(backend: S3Backend) -> None:
    with (
        pytest.raises(HansaError) as caught,
        backend.open(address("weather/2026.csv"), offset=len(DATA) + 1),
    ):
        pass
    assert caught.value.code == "dataplane.range_not_satisfiable"
    assert caught.value.extra["size"] == len(DATA)


def test_missing_object_and_bucket(backend: S3Backend) -> None:
    for missing in (address("nothing-here"), {**address("x"), "bucket": "no-such-bucket"}):
        with pytest.raises(HansaError) as caught, backend.open(missing):
            pass
        assert caught.value.code == "dataplane.not_found"
        with pytest.raises(HansaError) as caught:
            backend.stat(missing)
        assert caught.value.code == "dataplane.not_found"


@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_wrong_credentials(s3: S3Server, wrong: str) -> None:
    config = (
        replace(s3.config, secret_access_key="wrong-secret")
        if wrong == "secret"
        else replace(s3.config, access_key_id="AKIAWRONGWRONGWRONG0")
    )
    backend = S3Backend(config)
    with pytest.raises(HansaError) as caught, backend.open(address("weather/2026.csv")):
        pass
    assert caught.value.code == "dataplane.backend_auth_failed"
    with pytest.raises(HansaError) as caught:
        backend.write(address("new.bin"), [b"x"])
    assert caught.value.code == "dataplane.backend_auth_failed"


def test_small_write_is_one_put_with_its_sha256(backend: S3Backend) -> None:
    payload = [b"hello ", b"world"]
    result = backend.write(address("small.txt"), payload, content_type="text/plain")
    assert result.size == 11
    assert result.sha256 == hashlib.sha256(b"hello world").hexdigest()
    info = backend.stat(address("small.txt"))
    assert (info.size, info.content_type, info.sha256) == (11, "text/plain", result.sha256)
    with backend.open(address("small.txt")) as stream:
        assert b"".join(stream.chunks) == b"hello world"
        assert stream.sha256 == result.sha256


def test_large_write_is_a_multipart_upload(backend: S3Backend) -> None:
    data = os.urandom(MIN_PART_SIZE + MIB + 5)
    pieces = [data[i : i + 300_000] for i in range(0, len(data), 300_000)]
    result = backend.write(address("big.bin"), pieces)
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.etag is not None
    assert result.etag.endswith('-2"')
    with backend.open(address("big.bin")) as stream:
        assert hashlib.sha256(b"".join(stream.chunks)).hexdigest() == result.sha256


def test_failed_multipart_upload_is_aborted(backend: S3Backend, s3: S3Server) -> None:
    def source() -> Iterator[bytes]:
        yield os.urandom(MIN_PART_SIZE + 10)
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError):
        backend.write(address("half.bin"), source())
    client = backend._client(address("half.bin"))
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    with pytest.raises(HansaError) as caught:
        backend.stat(address("half.bin"))
    assert caught.value.code == "dataplane.not_found"


def test_endpoint_from_an_address_must_be_allowed(backend: S3Backend, s3: S3Server) -> None:
    with pytest.raises(HansaError) as caught:
        backend.stat(address("weather/2026.csv", endpoint="https://169.254.169.254"))
    assert caught.value.code == "dataplane.endpoint_not_allowed"
    info = backend.stat(address("weather/2026.csv", endpoint=s3.endpoint))
    assert info.size == len(DATA)


def test_unreachable_endpoint_is_backend_failed(s3: S3Server) -> None:
    backend = S3Backend(replace(s3.config, endpoint_url="http://127.0.0.1:9", connect_timeout=1))
    with pytest.raises(HansaError) as caught:
        backend.stat(address("weather/2026.csv"))
    assert caught.value.code == "dataplane.backend_failed"
