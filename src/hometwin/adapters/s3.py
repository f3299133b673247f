"""`s3://bucket/prefix` ObjectStore on MinIO, SeaweedFS or any S3, with the `minio` client.

The bucket is created with versioning and object lock, so every put keeps the older versions and
write-once objects (the models) get a lock: compliance retention and/or a legal hold (settings;
by default both, for 100 years), which the server enforces even against its own admin. Write-once
puts carry `If-None-Match: *`, so the server itself refuses a second writer. Metadata travels as
`x-amz-meta-*` headers and is read back case-insensitively (servers differ in the case they return).
Server and network errors become PortError subclasses naming the bucket and key.
Nothing connects until the first call; the bucket is checked once, then remembered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, ENABLED, GOVERNANCE
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import genheaders
from minio.retention import Retention
from minio.versioningconfig import VersioningConfig

from hometwin.adapters.object_keys import check_key, check_metadata
from hometwin.ports import AccessDenied, AlreadyExists, NotFound, PortError, StoredObject, Unavailable

T = TypeVar("T")
_META_PREFIX = "x-amz-meta-"
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
           "InvalidObjectState", "ObjectLocked"}
_MISSING = {"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "ResourceNotFound"}


@dataclass(frozen=True, slots=True)
class S3Options:
    """How to reach and protect an S3 store: explicit values, so this adapter needs no settings class
    (components/wiring.py builds them from `StoreSettings`)."""

    endpoint: str | None = None  # host:port or http(s)://host:port
    access_key: str | None = None
    secret_key: str | None = None
    secure: bool | None = None  # None: TLS unless the endpoint says http://
    verify_tls: bool = True
    ca_file: Path | None = None
    region: str | None = None
    timeout_seconds: float = 30.0
    retention_mode: str = "compliance"
    retention_days: int = 36500
    legal_hold: bool = True


def make_client(options: S3Options) -> Minio:
    """A Minio client: TLS verified by default, bounded timeouts and retries."""
    if not options.endpoint:
        raise ValueError("an s3:// store needs HOMETWIN_S3_ENDPOINT (host:port or https://host:port)")
    raw = options.endpoint if "://" in options.endpoint else f"//{options.endpoint}"
    parts = urlsplit(raw)
    if not parts.hostname or parts.path.strip("/"):
        raise ValueError(f"HOMETWIN_S3_ENDPOINT must be host:port or http(s)://host:port, "
                         f"got {options.endpoint!r}")
    secure = options.secure if options.secure is not None else parts.scheme != "http"
    timeout = options.timeout_seconds
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout), maxsize=10,
        cert_reqs="CERT_REQUIRED" if options.verify_tls else "CERT_NONE",
        ca_certs=str(options.ca_file) if options.ca_file else certifi.where(),
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )
    return Minio(parts.netloc, access_key=options.access_key, secret_key=options.secret_key,
                 secure=secure, region=options.region, http_client=http, cert_check=options.verify_tls)


class S3Store:
    def __init__(self, client: Minio, bucket: str, prefix: str = "", *,
                 retention_mode: str = "compliance", retention_days: int = 36500,
                 legal_hold: bool = True, region: str | None = None) -> None:
        if retention_mode not in ("compliance", "governance", "none"):
            raise ValueError(f"retention mode must be compliance, governance or none: {retention_mode!r}")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.retention_mode = retention_mode
        self.retention_days = retention_days
        self.legal_hold = legal_hold
        self.region = region
        self._ready = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, bucket: str, prefix: str, options: S3Options) -> S3Store:
        return cls(make_client(options), bucket, prefix, retention_mode=options.retention_mode,
                   retention_days=options.retention_days, legal_hold=options.legal_hold,
                   region=options.region)

    @property
    def protects(self) -> bool:
        return self.retention_mode != "none" or self.legal_hold

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None,
            *, overwrite: bool = True) -> str | None:
        check_key(key)
        meta = check_metadata(metadata)
        self._ensure_bucket()
        name = self._name(key)
        retention = None
        if not overwrite and self.retention_mode != "none":
            mode = COMPLIANCE if self.retention_mode == "compliance" else GOVERNANCE
            retention = Retention(mode, datetime.now(UTC) + timedelta(days=self.retention_days))
        # Prefixed here, so a key like "content-type" stays user metadata as in the other stores.
        user: dict[str, str | list[str] | tuple[str]] = {f"{_META_PREFIX}{k}": v for k, v in meta.items()}
        headers = genheaders(user, None, None, retention, not overwrite and self.legal_hold)
        headers["Content-Type"] = "application/octet-stream"
        if not overwrite:
            # The server refuses a second writer (PreconditionFailed) - no check-then-write race.
            headers["If-None-Match"] = "*"
            if self.versions(key):  # also hidden-by-delete-marker versions, which If-None-Match misses
                raise AlreadyExists(f"{self._where(key)} exists and is write-once")
        # minio's public put_object cannot send If-None-Match; _put_object is its single-PUT step.
        result = self._call(key, lambda: self.client._put_object(self.bucket, name, bytes(data), headers))
        return result.version_id

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        check_key(key)
        self._ensure_bucket()
        try:
            return self._get(key, version_id)
        except NotFound:
            if version_id is not None:
                raise
            # A delete marker hides the object but not its versions: HomeTwin still reads them.
            kept = self.versions(key)
            if not kept:
                raise
            return self._get(key, kept[-1])

    def versions(self, key: str) -> list[str]:
        check_key(key)
        self._ensure_bucket()
        name = self._name(key)

        def listing() -> list[Any]:
            return [o for o in self.client.list_objects(self.bucket, prefix=name, include_version=True)
                    if o.object_name == name and not o.is_delete_marker]

        found = self._call(key, listing)
        # S3 lists a key's versions newest first; the stable sort keeps that order within one second.
        found.reverse()
        found.sort(key=lambda o: o.last_modified or datetime.min.replace(tzinfo=UTC))
        return [str(o.version_id) for o in found]

    def list(self, prefix: str) -> list[str]:
        self._ensure_bucket()
        full = self._name(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0

        def listing() -> list[str]:
            return [str(o.object_name)[strip:]
                    for o in self.client.list_objects(self.bucket, prefix=full, recursive=True)]

        return sorted(self._call(prefix, listing))

    def _get(self, key: str, version_id: str | None) -> StoredObject:
        def fetch() -> tuple[bytes, Any]:
            response = self.client.get_object(self.bucket, self._name(key), version_id=version_id)
            try:
                return response.read(), response.headers
            finally:
                response.close()
                response.release_conn()

        data, headers = self._call(key, fetch)
        metadata = {k.lower()[len(_META_PREFIX):]: v for k, v in headers.items()
                    if k.lower().startswith(_META_PREFIX)}
        modified = headers.get("Last-Modified")
        return StoredObject(key, data, metadata, headers.get("x-amz-version-id") or version_id,
                            parsedate_to_datetime(modified) if modified else None)

    def _ensure_bucket(self) -> None:
        """Create the bucket with versioning and object lock, or check an existing one. Once."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            client, bucket = self.client, self.bucket
            if not self._call("", lambda: client.bucket_exists(bucket)):
                try:
                    self._call("", lambda: client.make_bucket(bucket, self.region, object_lock=True))
                except PortError as exc:
                    if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(exc):
                        raise
            status = self._call("", lambda: client.get_bucket_versioning(bucket)).status
            if status != ENABLED:
                self._call("", lambda: client.set_bucket_versioning(bucket, VersioningConfig(ENABLED)))
            if self.protects:
                try:
                    self._call("", lambda: client.get_object_lock_config(bucket))
                except NotFound:
                    raise PortError(
                        f"bucket {self.bucket!r} exists without object lock, so models there could be "
                        f"deleted; use a new bucket (HomeTwin creates it with object lock) or set "
                        f"HOMETWIN_S3_RETENTION_MODE=none and HOMETWIN_S3_LEGAL_HOLD=false knowingly"
                    ) from None
            self._ready = True

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._name(key)}"

    def _call(self, key: str, action: Callable[[], T]) -> T:
        """Run one client call, turning server and network failures into PortError subclasses."""
        where = self._where(key) if key else f"s3://{self.bucket}"
        try:
            return action()
        except S3Error as exc:
            text = f"{where}: {exc.code}: {exc.message}"
            if exc.code == "PreconditionFailed":
                raise AlreadyExists(f"{where} exists and is write-once") from exc
            if exc.code in _DENIED:
                raise AccessDenied(f"S3 refused {text} (check the keys and the bucket policy)") from exc
            if exc.code in _MISSING or exc.code == "ObjectLockConfigurationNotFoundError":
                raise NotFound(text) from exc
            raise PortError(f"S3 error at {text}") from exc
        except (ServerError, InvalidResponseError) as exc:
            raise Unavailable(f"S3 server error at {where}: {exc}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            host = getattr(getattr(self.client, "_base_url", None), "host", "?")
            raise Unavailable(f"S3 server {host} unreachable ({where}): {exc}") from exc
        except MinioException as exc:
            raise PortError(f"S3 client error at {where}: {exc}") from exc

    def __repr__(self) -> str:
        return f"S3Store(s3://{self.bucket}/{self.prefix})"

