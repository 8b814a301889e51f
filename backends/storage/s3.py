"""S3 and S3-compatible stores (MinIO, SeaweedFS) over aioboto3.

Large files go up in parts (``MULTIPART``) with several parts in flight; an upload that dies
leaves an incomplete multipart upload, which S3 never shows as an object, and the next upload of
that key aborts it. Every failure becomes one ``BadInput`` line that names the endpoint, bucket
or key and what to do — never a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from backends.errors import BadInput
from backends.storage import Progress, parse_json
from backends.storage.creds import Endpoint, Target
from backends.storage.transfer import CHUNK, VerifiedFile

MULTIPART = 16 << 20  # parts of 16 MiB above 16 MiB
CONCURRENCY = 8
CREATE_TRIES = 5  # 0.25 + 0.5 + 1 + 2 s between them
STALE_UPLOAD = datetime.timedelta(hours=1)  # an upload with no new part for this long is dead


class S3Store:
    def __init__(self, endpoint: Endpoint, *, create_buckets: bool = False) -> None:
        self.endpoint = endpoint
        self.label = f"storage {endpoint.name} ({endpoint.url or 'AWS'})"
        self.create_buckets = create_buckets
        self._checked: set[str] = set()
        self._shared: Any = None  # the client of connected(), for the loop that opened it

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """One client (one connection pool) for every operation inside the block (re-entrant)."""
        if self._shared is not None:
            yield
            return
        async with self._open() as client:
            self._shared = client
            try:
                yield
            finally:
                self._shared = None

    async def put(
        self, target: Target, key: str, path: Path, sha256: str, progress: Progress | None = None
    ) -> bool:
        if (await self.head(target, key) or {}).get("sha256") == sha256:
            return False
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=MULTIPART,
            multipart_chunksize=MULTIPART,
            max_concurrency=CONCURRENCY,
        )
        async with self._client(target, key) as client:
            await self._abort_stale(client, target.bucket, key)
            await client.upload_file(
                str(path),
                target.bucket,
                key,
                ExtraArgs={"Metadata": {"sha256": sha256}},
                Callback=progress,
                Config=config,
            )
        return True

    async def get(
        self, target: Target, key: str, dest: Path, sha256: str, progress: Progress | None = None
    ) -> None:
        where = f"{self.label}: {target.bucket}/{key}"
        async with self._client(target, key) as client:
            response = await client.get_object(Bucket=target.bucket, Key=key)
            stored = response.get("Metadata", {}).get("sha256")
            if stored is not None and stored != sha256:
                raise BadInput(
                    f"{where}: its metadata says sha256 {stored[:12]}…, expected {sha256[:12]}…"
                )
            with VerifiedFile(dest, sha256, where) as out:
                async for chunk in response["Body"].iter_chunks(CHUNK):
                    out.write(chunk, progress)

    async def head(self, target: Target, key: str) -> dict[str, Any] | None:
        async with self._client(target, key) as client:
            try:
                response = await client.head_object(Bucket=target.bucket, Key=key)
            except client.exceptions.ClientError as exc:
                if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        sha = response.get("Metadata", {}).get("sha256")
        return {"sha256": sha, "size": int(response["ContentLength"])}

    async def put_json(self, target: Target, key: str, data: Any) -> None:
        async with self._client(target, key) as client:
            await client.put_object(
                Bucket=target.bucket,
                Key=key,
                Body=json.dumps(data, indent=1).encode(),
                ContentType="application/json",
            )

    async def get_json(self, target: Target, key: str) -> Any | None:
        async with self._client(target, key) as client:
            try:
                response = await client.get_object(Bucket=target.bucket, Key=key)
            except client.exceptions.NoSuchKey:
                return None
            body = await response["Body"].read()
        return parse_json(body, f"{self.label}: {target.bucket}/{key}")

    async def keys(self, target: Target, prefix: str) -> list[str]:
        found: list[str] = []
        async with self._client(target, prefix) as client:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=target.bucket, Prefix=prefix
            )
            async for page in pages:
                found += [o["Key"] for o in page.get("Contents", [])]
        return sorted(found)

    async def presign(self, target: Target, key: str, seconds: int) -> str:
        async with self._client(target, key) as client:
            return await client.generate_presigned_url(
                "get_object", Params={"Bucket": target.bucket, "Key": key}, ExpiresIn=seconds
            )

    @contextlib.asynccontextmanager
    async def _client(self, target: Target, key: str) -> AsyncIterator[Any]:
        """The shared client (or one for this operation); failures become one clear line."""
        try:
            if self._shared is not None:
                await self._bucket(self._shared, target.bucket)
                yield self._shared
                return
            async with self._open() as client:
                await self._bucket(client, target.bucket)
                yield client
        except BadInput:
            raise
        except Exception as exc:
            raise BadInput(self._explain(exc, target.bucket, key)) from None

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[Any]:
        import aioboto3
        from botocore.config import Config

        e = self.endpoint
        session = aioboto3.Session(
            aws_access_key_id=e.access_key.reveal() if e.access_key else None,
            aws_secret_access_key=e.secret_key.reveal() if e.secret_key else None,
            profile_name=e.profile,
            region_name="us-east-1" if e.url else None,
        )
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            max_pool_connections=2 * CONCURRENCY,
        )
        async with session.client(
            "s3", endpoint_url=e.url, verify=e.verify, config=config
        ) as client:
            yield client

    async def _bucket(self, client: Any, bucket: str) -> None:
        if bucket in self._checked:
            return
        try:
            await client.head_bucket(Bucket=bucket)
        except client.exceptions.ClientError as exc:
            if _code(exc) == "403":  # HEAD has no body to say why: ask with a GET
                await client.list_objects_v2(Bucket=bucket, MaxKeys=1)
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise

            if not self.create_buckets:
                raise BadInput(
                    f"{self.label}: bucket {bucket!r} does not exist: a push creates it with "
                    "--create-bucket (from Python: push(..., create_bucket=True))"
                ) from None
            await self._create_bucket(client, bucket)

        self._checked.add(bucket)

    @staticmethod
    async def _create_bucket(client: Any, bucket: str) -> None:
        """Create ``bucket``. A concurrent push may make it first; a store that has just started
        (SeaweedFS while its filer settles) may answer NoSuchBucket for a moment: asked again."""
        for attempt in range(CREATE_TRIES):
            try:
                await client.create_bucket(Bucket=bucket)
                return
            except client.exceptions.ClientError as exc:
                code = _code(exc)
                if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    return
                if code != "NoSuchBucket" or attempt == CREATE_TRIES - 1:
                    raise
            await asyncio.sleep(0.25 * 2**attempt)

    @staticmethod
    async def _abort_stale(client: Any, bucket: str, key: str) -> None:
        """Parts of an earlier, interrupted upload of ``key``: dropped, so they stop costing
        space. An upload that sent a part (or started) within ``STALE_UPLOAD`` may be another
        process's live push of the same blob and is left alone: both complete to the same bytes
        (the key is their sha256)."""
        listing = await client.list_multipart_uploads(Bucket=bucket, Prefix=key)
        now = datetime.datetime.now(datetime.UTC)
        for upload in listing.get("Uploads", []):
            if upload["Key"] != key:
                continue
            parts = await client.list_parts(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            last = max([upload["Initiated"], *(p["LastModified"] for p in parts.get("Parts", []))])
            if now - last > STALE_UPLOAD:
                await client.abort_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload["UploadId"]
                )

    def _explain(self, exc: Exception, bucket: str, key: str) -> str:
        from botocore import exceptions as errors

        code = _code(exc)
        if code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidSecretKey"):
            return (
                f"{self.label}: the access key or secret key was refused ({code}): "
                "check the credentials"
            )
        if code in ("AccessDenied", "403", "Forbidden"):
            return (
                f"{self.label}: no permission for {bucket}/{key}: ask for access or use another set"
            )
        if code in ("NoSuchKey", "404"):
            return f"{self.label}: no object {bucket}/{key}"
        if isinstance(exc, errors.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return (
                f"{self.label}: its TLS certificate is not trusted: set cert_path to the CA that "
                "signed it (cert_verify: false turns verification off, insecurely)"
            )
        if isinstance(exc, errors.EndpointConnectionError | errors.ConnectTimeoutError):
            return (
                f"{self.label}: cannot reach the endpoint: is the address right and the server up?"
            )
        if isinstance(exc, errors.NoCredentialsError | errors.ProfileNotFound):
            return f"{self.label}: no credentials ({exc}): pass --creds or set AWS_ACCESS_KEY_ID"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return f"{self.label}: {type(exc).__name__}: {first}"


def _code(exc: Exception) -> str:
    """The S3 error code; transfers wrap theirs in a message ("... (AccessDenied) when ...")."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    if code is None:
        found = re.search(r"\((\w+)\) when calling", str(exc))
        code = found.group(1) if found else ""
    return str(code)
