"""An HttpData-PULL between two real nodes, against curl fetching the file from a static server.

    python benchmarks/transfer.py [--quick]

A local federation (provider and consumer as their own ``hansa serve`` processes, HTTPS on
loopback) negotiates an offer of one file (1 GiB; ``--quick``: 256 MiB) in the provider's
file root; then the consumer transfers it: ``POST /management/transfers`` (HttpData-PULL),
the provider's TransferStartMessage with a data token, the consumer's download from
``GET /data/{id}`` with the token verified and the agreement checked before every 1 MiB
chunk, written to a file and its SHA-256 checked, the completion message. Measured:

- the transfer's throughput, from the request to COMPLETED (all protocol steps included);
- the floor: ``curl`` fetching the same file over HTTPS (the provider's certificate) from a
  plain static server (Python's ``http.server`` in its own process, wrapped in TLS),
  written to a file too;
- the ratio of the two (target >= 0.8);
- the provider process's peak RSS (VmHWM) and its RSS sampled during the transfer (target
  < 200 MiB).

Pulls and curl fetches alternate (``--runs``, default 7, each a new transfer under the same
agreement), and the medians are compared, so that load from other processes on the machine
falls on both alike. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from hansa.demo.federation import LocalFederation
from hansa.demo.processes import NodeProcess

POLICY = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [{"action": "use"}],
}
MIB = 1_048_576
STATIC_SERVER = """
import functools, http.server, ssl, sys
root, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
handler.log_message = lambda *a: None
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"""


def _write_file(path: Path, size: int) -> None:
    """``size`` bytes: a 16 MiB random block repeated (quick to make, no compression gains)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(16 * MIB)
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every 20 ms until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, _status(self.pid).get("VmRSS", 0))
            self.done.wait(0.02)


def _as_process(federation: LocalFederation, name: str, log_dir: Path) -> NodeProcess:
    """Stop the in-process node ``name`` and run it again as its own process."""
    running = federation.nodes.pop(name)
    running.node.http.close()
    running.server.stop()
    running.node.close()
    return NodeProcess(running.settings, log_file=log_dir / f"{name}.log").start(federation.ca_file)


def _wait(client: httpx.Client, url: str, states: str) -> dict[str, Any]:
    while True:
        view: dict[str, Any] = client.get(url, params={"waitFor": states, "timeout": 60}).json()
        if view["state"] in states.split(","):
            return view


def _negotiate(consumer: httpx.Client, provider_url: str) -> str:
    started = consumer.post(
        "/management/negotiations", json={"providerAddress": provider_url, "offerId": "o1"}
    )
    started.raise_for_status()
    view = _wait(
        consumer, f"/management/negotiations/{started.json()['id']}", "FINALIZED,TERMINATED"
    )
    if view["state"] != "FINALIZED":
        raise RuntimeError(f"negotiation ended {view['state']}: {view['error']}")
    return str(view["agreementId"])


def _pull(consumer: httpx.Client, agreement_id: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = consumer.post("/management/transfers", json={"agreementId": agreement_id})
    answer.raise_for_status()
    view = _wait(consumer, f"/management/transfers/{answer.json()['id']}", "COMPLETED,TERMINATED")
    elapsed = time.perf_counter() - started
    if view["state"] != "COMPLETED":
        raise RuntimeError(f"transfer ended {view['state']}: {view['error']}")
    return elapsed, view


def _curl(url: str, ca: Path, out: Path) -> tuple[float, int]:
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(ca),
            "-o",
            str(out),
            "-w",
            "%{time_total} %{size_download}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, size = done.stdout.split()
    return float(seconds), int(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB, within a minute")
    parser.add_argument(
        "--runs", type=int, default=7, help="pulls and curl fetches, alternating (medians)"
    )
    args = parser.parse_args()
    size = (256 if args.quick else 1024) * MIB
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        federation = LocalFederation(root / "federation", base_port=29700)
        federation.start()
        processes: list[NodeProcess] = []
        static: subprocess.Popen[str] | None = None
        try:
            provider, consumer = federation["provider"], federation["consumer"]
            files = provider.settings.data_dir / "files"
            _write_file(files / "bench" / "data.bin", size)
            assets = provider.node.assets
            assert assets is not None
            assets.create_asset({"type": "File", "path": "bench/data.bin"}, id="a1")
            assets.create_policy(POLICY, id="p1")
            assets.create_offer("a1", "p1", id="o1")
            provider_url, cert, key = (
                provider.base_url,
                provider.settings.tls_cert_file,
                provider.settings.tls_key_file,
            )
            for running in (provider, consumer):
                running.node.http.close()
            processes = [_as_process(federation, n, root) for n in ("provider", "consumer")]
            provider_process = processes[0].process
            assert provider_process is not None
            port = 29710
            static = subprocess.Popen(
                [sys.executable, "-c", STATIC_SERVER, str(files), str(port), str(cert), str(key)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert static.stdout is not None
            static.stdout.readline()
            pulls: list[float] = []
            curls: list[float] = []
            sampler = RssSampler(provider_process.pid)
            with consumer.client(federation.ca_file) as client:
                client.timeout = httpx.Timeout(120)
                agreement_id = _negotiate(client, provider_url)
                before = _status(provider_process.pid)
                sampler.start()
                for _run in range(args.runs):
                    elapsed, view = _pull(client, agreement_id)
                    received = consumer.settings.data_dir / "files" / view["destination"]["path"]
                    if received.stat().st_size != size:
                        raise RuntimeError("the received file has the wrong size")
                    received.unlink()
                    pulls.append(elapsed)
                    curl_seconds, curl_size = _curl(
                        f"https://localhost:{port}/bench/data.bin",
                        federation.ca_file,
                        root / "curl.bin",
                    )
                    if curl_size != size:
                        raise RuntimeError(f"curl fetched {curl_size} bytes, not {size}")
                    (root / "curl.bin").unlink()
                    curls.append(curl_seconds)
                sampler.done.set()
                sampler.join()
                after = _status(provider_process.pid)
        finally:
            if static is not None:
                static.terminate()
                static.wait()
            for process in processes:
                process.stop()
            federation.stop()
    elapsed, curl_seconds = statistics.median(pulls), statistics.median(curls)
    transfer_mbps = size / elapsed / 1e6
    curl_mbps = size / curl_seconds / 1e6
    figures: dict[str, Any] = {
        "size_mib": size // MIB,
        "runs": args.runs,
        "transfer_seconds": elapsed,
        "transfer_mb_per_s": transfer_mbps,
        "transfer_seconds_each": [round(t, 3) for t in pulls],
        "curl_static_seconds": curl_seconds,
        "curl_static_mb_per_s": curl_mbps,
        "curl_static_seconds_each": [round(t, 3) for t in curls],
        "ratio": transfer_mbps / curl_mbps,
        "target_ratio": 0.8,
        "provider_rss_before_mib": before.get("VmRSS", 0) / MIB,
        "provider_rss_peak_during_mib": sampler.peak / MIB,
        "provider_vmhwm_mib": after.get("VmHWM", 0) / MIB,
        "target_rss_mib": 200,
    }
    figures["target_met"] = figures["ratio"] >= 0.8 and figures["provider_vmhwm_mib"] < 200
    print(
        f"HttpData-PULL of {size // MIB} MiB: {elapsed:.2f} s, {transfer_mbps:.0f} MB/s "
        "(request to COMPLETED, token and agreement checked per chunk, SHA-256 verified; "
        f"median of {args.runs}: {', '.join(f'{t:.2f}' for t in pulls)} s)"
    )
    print(
        f"curl from a static HTTPS server: {curl_seconds:.2f} s, {curl_mbps:.0f} MB/s "
        f"(median of {args.runs}: {', '.join(f'{t:.2f}' for t in curls)} s)"
    )
    print(f"ratio {figures['ratio']:.2f} (target >= 0.8)")
    print(
        f"provider RSS {figures['provider_rss_before_mib']:.0f} MiB before, peak "
        f"{figures['provider_rss_peak_during_mib']:.0f} MiB during, VmHWM "
        f"{figures['provider_vmhwm_mib']:.0f} MiB (target < 200)"
    )
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
