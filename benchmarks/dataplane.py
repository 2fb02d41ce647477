"""Data plane: download throughput of the data endpoint vs Starlette's FileResponse and sendfile.

    python benchmarks/dataplane.py [--quick] [--size-mib N] [--rounds N]

One file of random bytes is served on 127.0.0.1 by uvicorn (one server thread each) as:

- ``sendfile``: a bare threaded HTTP server calling ``socket.sendfile`` (what a static
  server does; the ceiling);
- ``fileresponse-64k``: Starlette's ``FileResponse`` (reads 64 KiB chunks);
- ``fileresponse-1m``: the same with 1 MiB chunks;
- ``dataplane``: ``GET /data/{id}`` (token verified, agreement checked before every
  1 MiB chunk, usage event recorded) over the File backend.

A raw-socket client reads each body into a reusable buffer, so the client costs little.
Ratios are against ``sendfile``. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.responses import FileResponse

from hansa.dataplane import (
    BackendRegistry,
    DataEndpoint,
    DataGrant,
    DataPlaneConfig,
    DataTokenAuthority,
    MemoryUsageLog,
    TransferTarget,
    data_router,
)
from hansa.dataplane.backend_files import FileBackend
from hansa.identity.keys import generate_private_key
from hansa.serving import BackgroundServer

MIB = 1_048_576


class BigChunkFileResponse(FileResponse):
    chunk_size = MIB


def fetch(port: int, path: str, headers: dict[str, str], buffer: bytearray) -> int:
    """GET ``path`` and read the body (Content-Length framed) into ``buffer``; its size."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{lines}\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        head, _, rest = head.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        received = len(rest)
        view = memoryview(buffer)
        while received < length:
            count = sock.recv_into(view, min(len(buffer), length - received))
            if not count:
                raise RuntimeError(f"body cut at {received} of {length}")
            received += count
        return received


@contextmanager
def sendfile_server(path: Path) -> Iterator[int]:
    size = path.stat().st_size

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            with path.open("rb") as handle:
                self.connection.sendfile(handle)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def uvicorn_server(app: FastAPI) -> Iterator[int]:
    server = BackgroundServer(app, port=0).start()
    try:
        yield server.bound_port()
    finally:
        server.stop()


def measure(run: Callable[[], int], rounds: int) -> dict[str, float]:
    run()  # warm-up
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        size = run()
        rates.append(size / MIB / (time.perf_counter() - start))
    return {"mib_per_s": round(statistics.median(rates), 1), "best": round(max(rates), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, 3 rounds")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size_mib, rounds = (64, 3) if args.quick else (args.size_mib, args.rounds)

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        data_file = root / "data.bin"
        with data_file.open("wb") as out:
            for _ in range(size_mib):
                out.write(os.urandom(MIB))
        buffer = bytearray(4 * MIB)
        results: dict[str, dict[str, float]] = {}

        with sendfile_server(data_file) as port:
            results["sendfile"] = measure(lambda: fetch(port, "/", {}, buffer), rounds)

        files = FastAPI()
        files.get("/64k")(lambda: FileResponse(data_file))
        files.get("/1m")(lambda: BigChunkFileResponse(data_file))
        with uvicorn_server(files) as port:
            results["fileresponse-64k"] = measure(lambda: fetch(port, "/64k", {}, buffer), rounds)
            results["fileresponse-1m"] = measure(lambda: fetch(port, "/1m", {}, buffer), rounds)

        tokens = DataTokenAuthority(
            generate_private_key(),
            kid="did:web:bench.test#key-1",
            issuer="did:web:bench.test",
            audience="https://bench.test/data",
        )
        target = TransferTarget(
            "t1", "a1", "did:web:c.test", "s1", {"type": "File", "path": "data.bin"}
        )
        endpoint = DataEndpoint(
            tokens=tokens,
            backends=BackendRegistry(DataPlaneConfig(), {"File": lambda c: FileBackend(root)}),
            resolve_transfer=lambda transfer_id: target,
            check_agreement=lambda agreement, consumer, asset: None,
            usage=MemoryUsageLog(),
            source="did:web:bench.test/dataplane",
        )
        app = FastAPI()
        app.include_router(data_router(endpoint))
        token = tokens.issue(DataGrant("a1", "t1", "did:web:c.test", "s1")).token
        auth = {"Authorization": f"Bearer {token}"}
        with uvicorn_server(app) as port:
            results["dataplane"] = measure(lambda: fetch(port, "/data/t1", auth, buffer), rounds)

    ceiling = results["sendfile"]["mib_per_s"]
    for name, figures in results.items():
        figures["ratio"] = round(figures["mib_per_s"] / ceiling, 2)
        print(f"{name:18} {figures['mib_per_s']:8.1f} MiB/s  {figures['ratio']:.2f}x sendfile")
    print(json.dumps({"size_mib": size_mib, "rounds": rounds, "results": results}))


if __name__ == "__main__":
    main()
