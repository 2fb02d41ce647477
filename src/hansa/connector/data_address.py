"""Where an asset's data lives: the data address of each backend, checked before it is stored.

    {"type": "HttpData", "baseUrl": "https://data.example.eu/weather"}
    {"type": "File", "path": "weather/2026.csv"}        # under the node's file root
    {"type": "AmazonS3", "bucket": "weather", "key": "2026.csv", "region": "eu-central-1"}

Every problem is reported at once, each with a code and a JSON pointer into the caller's
document (``/dataAddress/baseUrl``). File paths are checked twice: here, when the asset
is written, and again by the data plane with :func:`resolve_file_path` on every access,
since a symlink may be swapped after the asset was created.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from hansa.errors import ValidationFailed

HTTP_DATA = "HttpData"
FILE = "File"
AMAZON_S3 = "AmazonS3"
TYPES = (HTTP_DATA, FILE, AMAZON_S3)

INVALID = "data_address.invalid"
UNKNOWN_TYPE = "data_address.unknown_type"
MISSING = "data_address.missing_property"
UNKNOWN_PROPERTY = "data_address.unknown_property"
URL_INVALID = "data_address.url_invalid"
URL_NOT_HTTPS = "data_address.url_not_https"
PATH_TRAVERSAL = "data_address.path_traversal"
PATH_OUTSIDE_ROOT = "data_address.path_outside_root"
FILE_ROOT_UNSET = "data_address.file_root_unset"
BUCKET_INVALID = "data_address.bucket_invalid"
KEY_INVALID = "data_address.key_invalid"

_PROPERTIES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # type: (required, optional)
    HTTP_DATA: (frozenset({"baseUrl"}), frozenset({"contentType"})),
    FILE: (frozenset({"path"}), frozenset({"contentType"})),
    AMAZON_S3: (frozenset({"bucket", "key"}), frozenset({"region", "endpoint", "contentType"})),
}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
MAX_KEY_BYTES = 1024


class DataAddressError(ValidationFailed):
    """A data address that cannot be used; ``errors`` lists every problem with its pointer."""

    default_code = INVALID
    title = "Invalid data address"


@dataclass(frozen=True)
class DataAddressRules:
    """What this node accepts: its file root, and whether plain HTTP may name loopback."""

    file_root: Path | None = None
    allow_http_on_loopback: bool = False


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, code: str, pointer: str, detail: str) -> None:
        self.items.append({"code": code, "pointer": pointer, "detail": detail})

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first, more = self.items[0], len(self.items) - 1
        detail = first["detail"] + (f" (and {more} more problem(s))" if more else "")
        raise DataAddressError(
            detail, code=first["code"], pointer=first["pointer"], errors=self.items
        )


def validate_data_address(
    address: Any, rules: DataAddressRules, pointer: str = "/dataAddress"
) -> dict[str, Any]:
    """The data address, normalised (File paths relative to the root); DataAddressError if not."""
    problems = _Problems()
    if not isinstance(address, Mapping):
        problems.add(INVALID, pointer, "a data address must be a JSON object with a 'type'")
        problems.raise_if_any()
    kind = address.get("type")
    if kind not in TYPES:
        problems.add(
            UNKNOWN_TYPE,
            f"{pointer}/type",
            f"data address type must be one of {', '.join(TYPES)}, not {kind!r}",
        )
        problems.raise_if_any()
    required, optional = _PROPERTIES[kind]
    for name in sorted(required - address.keys()):
        problems.add(MISSING, f"{pointer}/{name}", f"a {kind} data address needs '{name}'")
    for name in sorted(address.keys() - required - optional - {"type"}):
        allowed = ", ".join(sorted(required | optional))
        problems.add(
            UNKNOWN_PROPERTY,
            f"{pointer}/{name}",
            f"'{name}' is not a property of a {kind} data address (allowed: type, {allowed})",
        )
    for name in sorted((required | optional) & address.keys()):
        if not isinstance(address[name], str) or not address[name]:
            problems.add(INVALID, f"{pointer}/{name}", f"'{name}' must be a non-empty string")
    problems.raise_if_any()

    normalised = dict(address)
    if kind == HTTP_DATA:
        _check_url(address["baseUrl"], f"{pointer}/baseUrl", rules, problems)
    elif kind == FILE:
        if rules.file_root is None:
            problems.add(
                FILE_ROOT_UNSET,
                f"{pointer}/path",
                "this node has no file root configured, so it serves no File data addresses",
            )
        else:
            relative = _check_file_path(
                address["path"], rules.file_root, f"{pointer}/path", problems
            )
            if relative is not None:
                normalised["path"] = relative
    else:
        _check_s3(address, pointer, rules, problems)
    problems.raise_if_any()
    return normalised


def _check_url(url: str, pointer: str, rules: DataAddressRules, problems: _Problems) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        problems.add(URL_INVALID, pointer, f"{url!r} is not a valid URL: {exc}")
        return
    if not host:
        problems.add(URL_INVALID, pointer, f"{url!r} is not an absolute URL with a host")
        return
    if parts.username is not None or parts.password is not None:
        problems.add(
            URL_INVALID,
            pointer,
            "the URL carries credentials (user:password@); they would be shown to anyone "
            "who can read the asset; configure them in the data plane instead",
        )
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and rules.allow_http_on_loopback and _is_loopback(host):
        return
    problems.add(URL_NOT_HTTPS, pointer, f"the URL must use https://, not {parts.scheme}://")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_file_path(path: str, root: Path, pointer: str, problems: _Problems) -> str | None:
    try:
        return str(resolve_file_path(root, path).relative_to(os.path.realpath(root)))
    except DataAddressError as exc:
        problems.add(exc.code, pointer, exc.detail)
        return None


def resolve_file_path(root: Path, path: str) -> Path:
    """The real path of ``path`` (relative to ``root``, or absolute inside it), or refuse it.

    Refuses any ``..`` segment, absolute paths outside the root, NUL bytes, and symlinks
    that lead out of the root. The data plane calls this again on every access.
    """
    if "\x00" in path:
        raise DataAddressError("the path contains a NUL byte", code=PATH_TRAVERSAL)
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise DataAddressError(
            f"the path {path!r} contains '..'; name the file relative to the file root",
            code=PATH_TRAVERSAL,
        )
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(Path(path) if pure.is_absolute() else real_root / path))
    if not _inside(real, real_root):
        how = "is outside" if pure.is_absolute() else "leads (through a symbolic link) outside"
        raise DataAddressError(
            f"the path {path!r} {how} the node's file root {str(real_root)!r}",
            code=PATH_OUTSIDE_ROOT,
        )
    if real == real_root:
        raise DataAddressError(
            "the path names the file root itself; name a file or directory inside it",
            code=PATH_OUTSIDE_ROOT,
        )
    return real


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check_s3(
    address: Mapping[str, Any], pointer: str, rules: DataAddressRules, problems: _Problems
) -> None:
    bucket = address["bucket"]
    if not _BUCKET.match(bucket) or ".." in bucket or _looks_like_ip(bucket):
        problems.add(
            BUCKET_INVALID,
            f"{pointer}/bucket",
            f"{bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots and "
            "hyphens, starting and ending with a letter or digit, not an IP address)",
        )
    key = address["key"]
    if len(key.encode()) > MAX_KEY_BYTES or "\x00" in key:
        problems.add(
            KEY_INVALID,
            f"{pointer}/key",
            f"an S3 key is at most {MAX_KEY_BYTES} bytes of UTF-8 without NUL",
        )
    region = address.get("region")
    if isinstance(region, str) and not _REGION.match(region):
        problems.add(
            INVALID, f"{pointer}/region", f"{region!r} is not a region name like 'eu-central-1'"
        )
    endpoint = address.get("endpoint")
    if isinstance(endpoint, str):
        _check_url(endpoint, f"{pointer}/endpoint", rules, problems)


def _looks_like_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
