"""`S3ObjectStore`: objects in an S3-API bucket (AWS S3, MinIO, Ceph, moto), with boto3.

Why boto3 rather than obstore: venvd needs presigned GET URLs (to redirect downloads away from the API
nodes), managed multipart uploads with retries for multi-GB artifacts (s3transfer's `upload_file`:
a multipart upload is invisible until CompleteMultipartUpload, so a write is never half-visible), and
tests against moto in server mode, which boto3 is the reference client of. obstore is faster on many
small concurrent reads but its presigning and multipart controls are younger, and it would add a Rust
wheel to the `fleet` extra for no gain on venvd's access pattern (few, large, sequential objects).

Last use: S3 has no atime and LastModified is the write time, so a use rewrites the object's metadata
with a server-side copy onto itself (no bytes through venvd), at most once per `touch_interval`
seconds per key: LRU order to within that interval, for one small request per use.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from venvd.objects._base import TEMP_PREFIX, ObjectInfo

__all__ = ["S3ObjectStore", "parse_s3_url"]

_TOUCH_INTERVAL = 3600.0
_log = logging.getLogger("venvd.objects")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ("bucket", "some/prefix/") ; ValueError otherwise."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3ObjectStore:
    name = "s3"

    def __init__(self, url: str, *, endpoint_url: str | None = None, client: Any = None,
                 touch_interval: float = _TOUCH_INTERVAL) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=endpoint_url or None,
                config=Config(retries={"max_attempts": 5, "mode": "standard"},
                              connect_timeout=10, read_timeout=60,
                              # Path-style works with every S3-API server, vhost-style needs DNS.
                              s3={"addressing_style": "path"}))
        self.client = client
        self.touch_interval = touch_interval
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"not an object key: {key!r}")
        return self.prefix + key

    def put_file(self, key: str, path: Path) -> None:
        from boto3.s3.transfer import TransferConfig

        with _as_oserror(key):
            self.client.upload_file(str(path), self.bucket, self._key(key),
                                    Config=TransferConfig(multipart_threshold=64 << 20))

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        with _as_oserror(key):
            self.client.upload_fileobj(stream, self.bucket, self._key(key))

    def get_file(self, key: str, dest: Path) -> None:
        import os
        import secrets

        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}-{dest.name}")
        try:
            with _as_oserror(key):
                self.client.download_file(self.bucket, self._key(key), str(tmp))
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def open_range(self, key: str, start: int = 0, end: int | None = None,
                   block: int = 1 << 20) -> Iterator[bytes]:
        extra = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        with _as_oserror(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)["Body"]
        return _chunks(body, block)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            with _as_oserror(key):
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return None
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp())

    def touch(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        now = time.time()
        with self._lock:
            if now - self._touched.get(key, 0.0) < self.touch_interval:
                return
            self._touched[key] = now
        full = self._key(key)
        try:
            self.client.copy_object(Bucket=self.bucket, Key=full,
                                    CopySource={"Bucket": self.bucket, "Key": full},
                                    MetadataDirective="REPLACE", Metadata={"used": str(int(now))})
        except (ClientError, BotoCoreError) as exc:
            # A lost touch only makes the object look older to GC; never fail a read for it.
            if not (isinstance(exc, ClientError) and _status(exc) == 404):
                _log.warning("cannot record the use of %s: %s", key, exc)

    def delete(self, key: str) -> None:
        with _as_oserror(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        with self._lock:
            self._touched.pop(key, None)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        with _as_oserror(prefix or "/"):
            pages = list(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix))
        for page in pages:
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix):]
                if key.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
                    continue
                yield ObjectInfo(key, int(item["Size"]), item["LastModified"].timestamp())

    def presigned_url(self, key: str, expires: float) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=max(1, int(expires)))
        return url

    def local_path(self, key: str) -> Path | None:
        return None

    def ensure_bucket(self) -> None:
        """Create the bucket when missing (tests and first runs on a private S3-API server)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)


def _status(exc: Any) -> int:
    try:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    except (KeyError, TypeError, ValueError):
        return 0


@contextlib.contextmanager
def _as_oserror(key: str) -> Iterator[None]:
    """S3 errors as the contract's OSErrors: a missing key → FileNotFoundError, a full backend
    (HTTP 507, a quota) → ENOSPC, anything else → OSError(EIO); local OSErrors (ENOSPC while
    staging a download) pass as they are."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        status = _status(exc)
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if status == 404 or code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(errno.ENOENT, f"no object {key}") from None
        if status == 507 or code in ("EntityTooLarge", "QuotaExceeded", "XMinioStorageFull"):
            raise OSError(errno.ENOSPC, f"no space left on device (object store: {code})") from exc
        raise OSError(errno.EIO, f"object store: {exc}") from exc
    except (S3UploadFailedError, BotoCoreError) as exc:
        if "NoSuchKey" in str(exc) or "Not Found" in str(exc):
            raise FileNotFoundError(errno.ENOENT, f"no object {key}") from None
        if "507" in str(exc) or "StorageFull" in str(exc):
            raise OSError(errno.ENOSPC, f"no space left on device (object store: {exc})") from exc
        raise OSError(errno.EIO, f"object store: {exc}") from exc


def _chunks(body: Any, block: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(block)
    finally:
        body.close()
