"""Object storage against a real S3 server process (SeaweedFS on loopback), with the original
mllib's creds.json format (the local-directory store: test_local_store.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

import pytest

from backends.storage import configure
from backends.storage.creds import Target, load_creds
from backends.storage.s3 import S3Store
from backends.workspace import Workspace, hash_path
from tests.conftest import cli
from tests.s3server import ACCESS_KEY, READER_KEY, READER_SECRET, SECRET_KEY, S3Server

pytestmark = pytest.mark.slow


@pytest.fixture
def creds(s3: S3Server, tmp_path: Path) -> Path:
    return s3.creds_json(tmp_path / "creds.json")


def _store(creds: Path, **kw) -> tuple[S3Store, dict[str, Target]]:
    store, targets, _ = configure(creds=creds, entry="seaweed", local=Path("."), **kw)
    assert isinstance(store, S3Store)
    return store, targets


def test_dataset_pushed_from_one_workspace_trains_in_another(
    creds: Path, trained_ws: Path, tmp_path: Path
) -> None:
    opts = ["--creds", str(creds), "--storage", "seaweed"]
    first = cli(
        "storage", "push", "dataset", "tiny", "-w", str(trained_ws), *opts, "--create-bucket"
    )
    assert first.returncode == 0, first.stderr
    again = cli("storage", "push", "dataset", "tiny", "-w", str(trained_ws), *opts)
    assert "0 file(s) sent" in again.stdout  # content-addressed: nothing new to send

    other = tmp_path / "other"
    pulled = cli("storage", "pull", "dataset", "tiny", "-w", str(other), *opts)
    assert pulled.returncode == 0, pulled.stderr
    source = Workspace.open(trained_ws).catalog.dataset("tiny")
    copy = Workspace.open(other).catalog.dataset("tiny")
    assert copy.version == source.version and copy.manifest == source.manifest
    for shard in copy.manifest["splits"]["train"]["shards"]:
        assert (
            hash_path(Workspace.open(other).path(copy.path) / shard["file"])[0] == shard["sha256"]
        )

    listed = json.loads(cli("storage", "ls", "--json", "-w", str(other), *opts).stdout)
    assert {"name": "tiny", "version": source.version, "local": True} in listed["datasets"]

    pipeline = tmp_path / "p.toml"
    pipeline.write_text(
        'stages = ["dataset", "train"]\n[dataset]\nsource = "workspace"\nname = "tiny"\n'
        "[train]\nepochs = 1\nbatch_size = 4\n"
    )
    trained = cli("run", "--headless", "-w", str(other), str(pipeline))
    assert trained.returncode == 0, trained.stderr
    assert f"tiny@{source.version}" in trained.stderr


def test_artifact_round_trip_and_a_board_fetches_by_presigned_url(
    creds: Path, trained_ws: Path, tmp_path: Path
) -> None:
    opts = ["--creds", str(creds), "--storage", "seaweed"]
    int8 = next(
        a
        for a in Workspace.open(trained_ws).catalog.artifacts("tflite")
        if a.meta.get("precision") == "int8"
    )
    ws = tmp_path / "ws"
    assert (
        cli("storage", "push", "artifact", str(int8.id), "-w", str(trained_ws), *opts).returncode
        == 0
    )
    pulled = cli("storage", "pull", "artifact", int8.sha256[:16], "-w", str(ws), *opts)
    assert pulled.returncode == 0, pulled.stderr
    (copy,) = Workspace.open(ws).catalog.artifacts("tflite")
    assert copy.sha256 == int8.sha256 and copy.meta["fidelity"] == int8.meta["fidelity"]

    # The workstation signs a URL; the board (here `local`, its agent without any credentials
    # in its environment) downloads and hashes the model itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    deployed = cli(
        "deploy", str(copy.id), "local", "--via-storage", "-w", str(ws), *opts, "--json", env=env
    )
    assert deployed.returncode == 0, deployed.stderr
    model = ws / "boards" / "local" / "deployed" / "tflite-int8" / "current" / "model.tflite"
    assert hash_path(model)[0] == int8.sha256
    assert SECRET_KEY not in deployed.stdout + deployed.stderr
    assert "X-Amz-Signature" not in deployed.stdout + deployed.stderr


def test_wrong_secret_is_refused_in_one_line(s3: S3Server, tmp_path: Path) -> None:
    creds = s3.creds_json(tmp_path / "creds.json", **{"secret key": "not-the-secret"})
    out = cli("storage", "ls", "--creds", str(creds), "-w", str(tmp_path / "ws"))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "access key or secret key was refused" in line and "not-the-secret" not in line


def test_objects_and_metadata_survive_a_restart(s3: S3Server, creds: Path, tmp_path: Path) -> None:
    store, targets = _store(creds, create_buckets=True)
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(3000))
    sha = hash_path(blob)[0]
    target = targets["model"]
    assert asyncio.run(store.put(target, target.key("blobs", sha), blob, sha))
    s3.stop()
    s3.start()
    head = asyncio.run(store.head(target, target.key("blobs", sha)))
    assert head == {"sha256": sha, "size": 3000}
    asyncio.run(store.get(target, target.key("blobs", sha), tmp_path / "back", sha))
    assert (tmp_path / "back").read_bytes() == blob.read_bytes()


def test_an_interrupted_multipart_upload_leaves_no_object(creds: Path, tmp_path: Path) -> None:
    store, targets = _store(creds, create_buckets=True)
    target = targets["dataset"]
    big = tmp_path / "big"
    big.write_bytes(os.urandom(40 << 20))  # above the multipart threshold: several parts
    sha = hash_path(big)[0]
    key = target.key("blobs", sha)
    sent = [0]

    async def interrupted() -> None:
        """The push is cancelled (Ctrl-C, a lost link) once a part or two went up."""
        task = asyncio.ensure_future(
            store.put(target, key, big, sha, lambda n: sent.__setitem__(0, sent[0] + n))
        )
        while sent[0] < 16 << 20 and not task.done():
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    assert 0 < sent[0] < 40 << 20
    assert asyncio.run(store.head(target, key)) is None
    assert key not in asyncio.run(store.keys(target, target.key("blobs", "")))
    assert asyncio.run(store.put(target, key, big, sha))  # restarts clean
    assert asyncio.run(store.head(target, key)) == {"sha256": sha, "size": 40 << 20}


def test_a_second_push_never_aborts_a_live_upload_of_the_same_blob(
    creds: Path, tmp_path: Path
) -> None:
    """Another workstation is halfway through a multipart upload of the same large blob when
    this one pushes it: that upload must survive and complete (a push used to abort every
    upload of its key, and the other push failed with NoSuchUpload)."""
    store, targets = _store(creds, create_buckets=True)
    target = targets["dataset"]
    big = tmp_path / "big"
    big.write_bytes(os.urandom(32 << 20))
    data = big.read_bytes()
    sha = hash_path(big)[0]
    key = target.key("blobs", sha)

    async def other_workstation_then_us() -> dict:
        async with store._client(target, key) as client:
            upload = await client.create_multipart_upload(
                Bucket=target.bucket, Key=key, Metadata={"sha256": sha}
            )
            first = await client.upload_part(
                Bucket=target.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1,
                Body=data[: 16 << 20],
            )  # fmt: skip
            assert await store.put(target, key, big, sha)  # our push, meanwhile
            second = await client.upload_part(
                Bucket=target.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=2,
                Body=data[16 << 20 :],
            )  # fmt: skip
            parts = [{"PartNumber": n, "ETag": p["ETag"]} for n, p in ((1, first), (2, second))]
            return await client.complete_multipart_upload(
                Bucket=target.bucket, Key=key, UploadId=upload["UploadId"],
                MultipartUpload={"Parts": parts},
            )  # fmt: skip

    assert asyncio.run(other_workstation_then_us())["Key"] == key
    assert asyncio.run(store.head(target, key)) == {"sha256": sha, "size": 32 << 20}


def test_a_corrupted_download_is_detected_and_not_kept(
    creds: Path, trained_ws: Path, tmp_path: Path
) -> None:
    opts = ["--creds", str(creds), "--storage", "seaweed"]
    assert cli("storage", "push", "dataset", "tiny", "-w", str(trained_ws), *opts).returncode == 0
    store, targets = _store(creds)
    target = targets["dataset"]
    manifest = Workspace.open(trained_ws).catalog.dataset("tiny").manifest
    shard = manifest["splits"]["val"]["shards"][0]
    # Someone overwrote the blob with other bytes but kept its name and metadata.
    key = target.key("blobs", shard["sha256"])
    asyncio.run(_overwrite(store, target, key, b"not the shard", shard["sha256"]))
    ws = tmp_path / "ws"
    out = cli("storage", "pull", "dataset", "tiny", "-w", str(ws), *opts)
    assert out.returncode == 2
    assert "the object is damaged; nothing was kept" in out.stderr
    assert not Workspace.open(ws).catalog.datasets()
    assert not any((ws / "datasets").rglob("*.npz")) and not any((ws / "tmp").iterdir())
    source = Workspace.open(trained_ws)
    good = (source.path(source.catalog.dataset("tiny").path) / shard["file"]).read_bytes()
    asyncio.run(_overwrite(store, target, key, good, shard["sha256"]))  # for the other tests


async def _overwrite(store: S3Store, target: Target, key: str, data: bytes, sha: str) -> None:
    async with store._client(target, key) as client:
        await client.put_object(Bucket=target.bucket, Key=key, Body=data, Metadata={"sha256": sha})


def test_tls_with_an_untrusted_certificate_is_refused_unless_configured(
    s3: S3Server, tmp_path: Path
) -> None:
    https = {"address": s3.https_url, "tls": True}
    ws = str(tmp_path / "ws")
    plain = s3.creds_json(tmp_path / "a.json", **https)
    refused = cli("storage", "ls", "--creds", str(plain), "-w", ws)
    assert refused.returncode == 2 and "TLS certificate is not trusted" in refused.stderr
    trusted = s3.creds_json(tmp_path / "b.json", **https, cert_path=str(s3.cert))
    assert cli("storage", "ls", "--creds", str(trusted), "-w", ws).returncode == 0
    unverified = s3.creds_json(tmp_path / "c.json", **https, cert_verify=False)
    loud = cli("storage", "ls", "--creds", str(unverified), "-w", ws)
    assert loud.returncode == 0 and "TLS certificates are NOT verified" in loud.stderr
    spaced = s3.creds_json(tmp_path / "d.json", **https)
    _drop(spaced, "cert_verify")
    _edit(spaced, **{"cert verify": False})  # the variant spelling the original also used
    assert load_creds(spaced, "seaweed").verify is False


# shared/original/README.md's creds.json, character for character (its "<>" values unfilled)
ORIGINAL_CREDS = Path(__file__).parent / "data" / "original" / "creds.json"


def test_the_original_creds_json_as_its_readme_prints_it(
    s3: S3Server, trained_ws: Path, tmp_path: Path
) -> None:
    """Its "type": "trainer" and "cert_path": null are accepted; it asks for HTTPS without a
    certificate check (cert_verify: false), which works and is warned about on every run."""
    creds = tmp_path / "creds.json"
    creds.write_text(
        ORIGINAL_CREDS.read_text()
        .replace("<s3 url>", f"127.0.0.1:{s3.https_port}")
        .replace("<s3 access key>", ACCESS_KEY)
        .replace("<s3 secret key>", SECRET_KEY)
    )
    creds.chmod(0o600)
    entry = load_creds(creds, None)
    assert entry.url == f"https://127.0.0.1:{s3.https_port}" and entry.verify is False
    opts = ["--creds", str(creds)]
    pushed = cli("storage", "push", "dataset", "tiny", "-w", str(trained_ws), *opts,
                 "--create-bucket")  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr + s3.log_tail()
    assert "TLS certificates are NOT verified" in pushed.stderr
    fresh = tmp_path / "fresh"
    listed = cli("storage", "ls", "--json", "-w", str(fresh), *opts)
    assert listed.returncode == 0, listed.stderr
    version = Workspace.open(trained_ws).catalog.dataset("tiny").version
    assert {"name": "tiny", "version": version, "local": False} in json.loads(listed.stdout)[
        "datasets"
    ]
    pulled = cli("storage", "pull", "dataset", "tiny", "-w", str(fresh), *opts)
    assert pulled.returncode == 0, pulled.stderr
    assert Workspace.open(fresh).catalog.dataset("tiny").version == version
    checked = cli("storage", "check", *opts)
    assert checked.returncode == 0, checked.stderr
    store, targets, _ = configure(creds=creds, entry=None, local=Path("."))
    keys = asyncio.run(store.keys(targets["dataset"], "data"))
    assert f"data/datasets/tiny/{version}.json" in keys  # the original's prefix


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.unlink(), "credentials file not found"),
        (lambda p: p.write_text("{"), "not valid JSON"),
        (lambda p: p.write_text('{"s3": {}}'), "field 's3' must be a non-empty list"),
        (lambda p: _drop(p, "secret key"), "field 'secret key' is missing"),
        (lambda p: _edit(p, address="127.0.0.1:9"), "cannot reach the endpoint"),
        (
            lambda p: _edit(p, sets={"model": {"bucket": "nope-bucket"}}),
            "bucket 'nope-bucket' does",
        ),
        (lambda p: _edit(p, sets={"models": {"bucket": "b"}}), "sets.models is not one of"),
    ],
)
def test_bad_storage_settings_are_one_line_exit_2(
    s3: S3Server, tmp_path: Path, change, message: str
) -> None:
    path = s3.creds_json(tmp_path / "creds.json")
    change(path)
    out = cli("storage", "ls", "--creds", str(path), "-w", str(tmp_path / "ws"))
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert message in line and "Traceback" not in out.stderr
    if "bucket" in message:
        assert "--create-bucket" in line


def test_no_permission_is_one_line(
    s3: S3Server, creds: Path, trained_ws: Path, tmp_path: Path
) -> None:
    reader = s3.creds_json(
        tmp_path / "reader.json", **{"access key": READER_KEY, "secret key": READER_SECRET}
    )
    opts = ["-w", str(trained_ws)]
    assert cli("storage", "push", "dataset", "tiny", *opts, "--creds", str(creds)).returncode == 0
    out = cli("storage", "push", "artifact", "1", *opts, "--creds", str(reader))
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "no permission for mllib-test/models/blobs/" in line
    listed = cli("storage", "ls", "--creds", str(reader), "-w", str(tmp_path / "ws"))
    assert listed.returncode == 0 and "tiny" in listed.stdout  # reading is allowed


def test_an_unknown_entry_names_the_ones_there(creds: Path) -> None:
    out = cli("storage", "ls", "--creds", str(creds), "--storage", "minio2")
    assert out.returncode == 2 and "no entry named 'minio2' (entries: seaweed)" in out.stderr


def test_world_readable_creds_are_warned_about(s3: S3Server, tmp_path: Path) -> None:
    path = s3.creds_json(tmp_path / "creds.json")
    path.chmod(0o644)
    assert load_creds(path, None).warnings == (
        f"{path} is readable by other users: chmod 600 {path}",
    )


def test_results_history_keeps_every_concurrent_writer(
    creds: Path, trained_ws: Path, tmp_path: Path
) -> None:
    """Two workstations push results at the same moment: both runs are kept (one object each)."""
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("mllib-tui")
    runs = [r for r, _, _ in Workspace.open(trained_ws).catalog.runs()][:2]
    procs = [
        subprocess.Popen(
            [
                str(exe),
                "storage",
                "push",
                "results",
                run,
                "-w",
                str(trained_ws),
                "--creds",
                str(creds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for run in runs
    ]
    assert [p.wait() for p in procs] == [0] * len(runs)
    listed = json.loads(
        cli("storage", "ls", "--json", "--creds", str(creds), "-w", str(tmp_path)).stdout
    )
    assert set(runs) <= set(listed["results"])


def test_secrets_never_reach_the_workspace_or_output(
    creds: Path, trained_ws: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    outs = [
        cli("storage", "pull", "dataset", "tiny", "-w", str(ws), "--creds", str(creds)),
        cli("storage", "ls", "--json", "-w", str(ws), "--creds", str(creds)),
        cli("storage", "push", "results", "latest", "-w", str(trained_ws), "--creds", str(creds)),
    ]
    assert [o.returncode for o in outs] == [0, 0, 0]
    text = "".join(o.stdout + o.stderr for o in outs)
    for path in [*ws.rglob("*"), *trained_ws.rglob("*")]:
        if path.is_file():
            text += path.read_bytes().decode("latin-1")
    assert SECRET_KEY not in text and ACCESS_KEY not in text
    assert "***" in repr(load_creds(creds, None).secret_key)


def _drop(path: Path, field: str) -> None:
    data = json.loads(path.read_text())
    del data["s3"][0][field]
    path.write_text(json.dumps(data))


def _edit(path: Path, **fields: object) -> None:
    data = json.loads(path.read_text())
    data["s3"][0].update(fields)
    path.write_text(json.dumps(data))
