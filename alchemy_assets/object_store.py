"""A data root on an object store (``s3://bucket/prefix``, ``gs://…``, ``az://…``), through obstore.

obstore (the Python binding of the Rust ``object_store`` crate, what Delta Lake's and
Polars' cloud readers use) gives the operations an object store layout needs and nothing
here re-implements: conditional PUT (``If-None-Match: *``, ``If-Match``), copy that refuses
to overwrite, ranged GETs pinned to an ETag, paginated listing, and retries with
exponential backoff on 5xx and throttling answers. Credentials and the endpoint come from the
store's standard chain (``AWS_*`` variables, ``AWS_ENDPOINT_URL``, web identity, instance
roles; ``AWS_PROFILE`` through boto3 when it is installed), never from this code and never
printed: every error says the operation and the key, with the store's first line of reason,
and any credential value that appears in it is masked.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import obstore
from obstore import exceptions as store_errors
from obstore.store import ObjectStore, from_url

# Schemes obstore's ``from_url`` takes, and this platform with it (the same code for each).
SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss", "azure")
_URL = re.compile(r"^(?P<scheme>[a-z0-9]+)://(?P<bucket>[^/]+)(?P<prefix>(?:/[^/]+)*)/?$")
# A bronze copy above this size cannot be one UploadPartCopy (S3's 5 GiB part limit).
SINGLE_COPY_LIMIT = 5 * 1024**3
RETRIES = int(os.environ.get("ALCHEMY_STORE_RETRIES", "5"))
RETRY_SECONDS = float(os.environ.get("ALCHEMY_STORE_RETRY_SECONDS", "60"))
_SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
)


# obstore raises a missing object as Python's own FileNotFoundError, not as its NotFoundError.
_STORE_ERRORS = (store_errors.BaseError, FileNotFoundError)


class StoreError(OSError):
    """An object store operation that failed; the message names the key and the reason."""


class StoreMissingError(StoreError, FileNotFoundError):
    """The object (or the bucket) is not there."""


class StoreExistsError(StoreError, FileExistsError):
    """A put-if-absent or copy-if-absent whose target exists already."""


class StorePreconditionError(StoreError):
    """The object is not the version the request was pinned to (its ETag changed)."""


class StoreAccessError(StoreError, PermissionError):
    """Credentials missing, wrong or without the permission: said in one line."""


def is_store_url(text: str) -> bool:
    """Whether ``text`` names an object store location (``scheme://bucket[/prefix]``)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


@dataclass(frozen=True)
class ObjectInfo:
    """One listed or inspected object: its key (relative to the root), size, last-modified
    time as float seconds (the manifest's ``mtime``) and ETag."""

    key: str
    size: int
    mtime: float
    etag: str


def _info(meta: Any) -> ObjectInfo:
    modified: datetime.datetime = meta["last_modified"]
    return ObjectInfo(meta["path"], int(meta["size"]), modified.timestamp(), meta["e_tag"] or "")


def _mask(text: str) -> str:
    for name in _SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _reason(err: BaseException) -> str:
    """The store's first line of reason, without its debug dump (and without secrets)."""
    text = str(err).split("\n\nDebug source:", 1)[0].strip()
    if "<Code>" in text:
        code = re.search(r"<Code>([^<]+)</Code>", text)
        message = re.search(r"<Message>([^<]+)</Message>", text)
        head = text.split(": <?xml", 1)[0]
        text = f"{head}: {code.group(1) if code else ''} {message.group(1) if message else ''}"
    return _mask(" ".join(text.split()))[:600]


def _hint(err: BaseException, text: str) -> str:
    if "error sending request" in text or "Connection refused" in text or "dns" in text.lower():
        return " (is the store reachable? check AWS_ENDPOINT_URL and the network)"
    if isinstance(err, store_errors.UnauthenticatedError | store_errors.PermissionDeniedError):
        return " (check the credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
    if "NoSuchBucket" in text:
        return " (the bucket does not exist)"
    return ""


@dataclass(frozen=True)
class StoreRoot:
    """``FP_PREFIX`` on an object store: the URL, and the obstore client rooted at its prefix.

    Keys are POSIX paths relative to the prefix (``sp/gics/1.0/raw/env0/data.csv``).
    """

    url: str
    store: ObjectStore = field(compare=False, repr=False)

    @classmethod
    def open(cls, url: str) -> StoreRoot:
        """The store at ``url`` (``s3://bucket/prefix``); raises :class:`StoreError` for a URL
        that names no bucket, or a configuration obstore refuses."""
        match = _URL.match(url.strip())
        if not match or not is_store_url(url):
            raise StoreError(
                f"data root {url!r}: expected scheme://bucket[/prefix] with scheme one of "
                f"{', '.join(SCHEMES)}, and no empty path segment"
            )
        clean = f"{match['scheme']}://{match['bucket']}{match['prefix']}"
        if ".." in clean.split("/")[3:] or "." in clean.split("/")[3:]:
            raise StoreError(f"data root {url!r}: '.' and '..' are not prefix segments")
        config: dict[str, Any] = {}
        if match["scheme"] in ("s3", "s3a"):
            # S3 refuses CopyObject with If-None-Match; a multipart copy whose completion is
            # conditional is how object_store makes a copy put-if-absent there.
            config["copy_if_not_exists"] = "multipart"
        retry = {
            "max_retries": RETRIES,
            "retry_timeout": datetime.timedelta(seconds=RETRY_SECONDS),
            "backoff": {
                "init_backoff": datetime.timedelta(milliseconds=100),
                "max_backoff": datetime.timedelta(seconds=15),
                "base": 2.0,
            },
        }
        kwargs: dict[str, Any] = {"config": config, "retry_config": retry}
        if match["scheme"] in ("s3", "s3a") and os.environ.get("AWS_PROFILE"):
            kwargs["credential_provider"] = _profile_credentials()
        try:
            store = from_url(clean, **kwargs)
        except (store_errors.BaseError, ValueError, TypeError) as err:
            raise StoreError(f"data root {clean}: {_reason(err)}") from None
        return cls(clean, store)

    def __str__(self) -> str:
        return self.url

    def location(self, key: str) -> str:
        """The full URL of ``key``: what messages and metadata show."""
        return f"{self.url}/{key}" if key else self.url

    def _fail(self, op: str, key: str, err: BaseException) -> StoreError:
        reason = _reason(err)
        shown = f"{self.location(key)}: {op} failed: {reason}{_hint(err, reason)}"
        if isinstance(err, store_errors.NotFoundError | FileNotFoundError):
            return StoreMissingError(shown)
        if isinstance(err, store_errors.AlreadyExistsError):
            return StoreExistsError(shown)
        if isinstance(err, store_errors.PreconditionError):
            return StorePreconditionError(shown)
        if isinstance(err, store_errors.UnauthenticatedError | store_errors.PermissionDeniedError):
            return StoreAccessError(shown)
        if "InvalidAccessKeyId" in reason or "SignatureDoesNotMatch" in reason:
            return StoreAccessError(f"{shown} (check the credentials)")
        if "AccessDenied" in reason or "Forbidden" in reason:
            return StoreAccessError(shown)
        return StoreError(shown)

    def head(self, key: str) -> ObjectInfo:
        try:
            return _info(obstore.head(self.store, key))
        except _STORE_ERRORS as err:
            raise self._fail("HEAD", key, err) from None

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except StoreMissingError:
            return False
        return True

    def objects(self, prefix: str, *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Every object under ``prefix`` (a folder: ends in ``/``), in key order, listed page
        by page (a page is 1,000 keys on S3); ``start_after``: only keys after that one."""
        try:
            pages = obstore.list(self.store, prefix or None, offset=start_after, chunk_size=1000)
            for page in pages:
                for meta in page:
                    yield _info(meta)
        except _STORE_ERRORS as err:
            raise self._fail("LIST", prefix, err) from None

    def folders(self, prefix: str) -> list[str]:
        """The names of the "folders" directly under ``prefix`` (common prefixes)."""
        try:
            found = obstore.list_with_delimiter(self.store, prefix or None)
        except _STORE_ERRORS as err:
            raise self._fail("LIST", prefix, err) from None
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in found["common_prefixes"])

    def get(self, key: str, *, etag: str | None = None) -> bytes:
        """The whole object (manifest segments, small files); with ``etag``, only that
        version (:class:`StorePreconditionError` otherwise)."""
        options: Any = {"if_match": etag} if etag else {}
        try:
            return bytes(obstore.get(self.store, key, options=options).bytes())
        except _STORE_ERRORS as err:
            raise self._fail("GET", key, err) from None

    def get_range(self, key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
        """Bytes ``[start, end)`` of ``key`` (one ranged GET); with ``etag``, of that version."""
        options: Any = {"range": (start, end)}
        if etag:
            options["if_match"] = etag
        try:
            return bytes(obstore.get(self.store, key, options=options).bytes())
        except _STORE_ERRORS as err:
            raise self._fail(f"GET bytes {start}-{end}", key, err) from None

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, etag: str | None = None
    ) -> str:
        """Write ``key`` whole (a reader sees the old object or the new one, never part);
        ``if_absent``: only if it does not exist (:class:`StoreExistsError`); ``etag``: only
        if it is that version (:class:`StorePreconditionError`). Returns the new ETag."""
        mode: Any = "overwrite"
        if if_absent:
            mode = "create"
        elif etag:
            mode = {"e_tag": etag}
        try:
            return str(obstore.put(self.store, key, data, mode=mode)["e_tag"] or "")
        except _STORE_ERRORS as err:
            raise self._fail("PUT", key, err) from None

    def copy_if_absent(self, source: str, target: str) -> None:
        """Server-side copy of ``source`` to ``target``, refused if ``target`` exists."""
        try:
            obstore.copy(self.store, source, target, overwrite=False)
        except _STORE_ERRORS as err:
            raise self._fail(f"COPY from {source}", target, err) from None

    def delete(self, key: str) -> None:
        """Remove ``key``; a key that is not there is no error (S3's DELETE is idempotent)."""
        try:
            obstore.delete(self.store, key)
        except (store_errors.NotFoundError, FileNotFoundError):
            return
        except _STORE_ERRORS as err:
            raise self._fail("DELETE", key, err) from None


def _profile_credentials() -> Any:
    """Credentials of ``AWS_PROFILE`` through boto3's chain (object_store reads no profiles)."""
    try:
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError as err:  # boto3 is not installed
        raise StoreError(
            f"AWS_PROFILE is set but boto3 is not installed ({err}); install boto3 or set "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        ) from None
    return Boto3CredentialProvider()
