"""Many clients at once against serve.py: good and bad uploads, dropped uploads, a full queue.

    python bench/bench_web_load.py [--clients 20] [--rounds 3] [--concurrency 2] [--max-waiting 16]

Starts serve.py on CPU (its temporary tree in a folder of its own), then runs `--rounds`
rounds; in each, every client (a thread with its own loopback address, 127.0.0.N, so the
server tells them apart) sends one request at the same moment: most subtitle
examples/jfk.mp4, the others send text named .mp4, a truncated .mp4, a raw .aac whose
header understates its length, or drop an upload half-way. A client told "server busy"
waits 2 s and asks again, as a careful client would. Printed per round: how many good
requests completed, how many refusals were the expected one-line errors, whether requests
started in the order they joined the queue, the server's resident memory (RSS) and the size
of its temporary tree, and partial or empty files left in it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.media_factory import make_text, make_truncated, make_understated_aac  # noqa: E402
from tests.web_server import running_server  # noqa: E402

JFK = ROOT / "examples" / "jfk.mp4"
KINDS = ("good", "good", "good", "not media", "good", "truncated", "good", "too long", "dropped")
EXPECTED = {
    "not media": "not a media file",
    "truncated": "truncated or corrupt",
    "too long": "over this server's limit of 5 minutes",
}


@dataclass
class Outcome:
    client: int
    kind: str
    ok: bool
    message: str
    joined: float | None = None  # when the queue accepted it
    started: float | None = None  # when it began to run
    busy: int = 0  # "server busy" answers before it was accepted


def tree(folders: list[Path], uploads: Path) -> tuple[int, int, int]:
    """(bytes, partial uploads, empty files) under the server's temporary folders; partial
    uploads are the files at the top of Gradio's upload folder."""
    size = partial = empty = 0
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                length = path.stat().st_size
                size += length
                empty += length == 0
                partial += path.parent == uploads
    return size, partial, empty


def drop_upload(url: str, address: str) -> None:
    """Send the first 300 kB of a 600 kB upload, then close the connection."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), source_address=(address, 0)) as sock:
        head = b'--X\r\nContent-Disposition: form-data; name="files"; filename="part.mp4"\r\n\r\n'
        sock.sendall(
            b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=X\r\nContent-Length: 600000\r\n\r\n"
            + head
            + os.urandom(300_000)
        )
        time.sleep(0.2)


def request(url: str, fn_index: int, client: int, kind: str, media: dict, start: threading.Event):
    address = f"127.0.0.{10 + client}"
    outcome = Outcome(client, kind, False, "")
    start.wait()
    if kind == "dropped":
        drop_upload(url, address)
        outcome.ok, outcome.message = True, "dropped"
        return outcome
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=300) as http:
        with open(media[kind], "rb") as data:
            uploaded = http.post(
                f"{url}gradio_api/upload", files={"files": (Path(media[kind]).name, data)}
            ).json()[0]
        session = os.urandom(8).hex()
        file_data = {"path": uploaded, "orig_name": Path(uploaded).name,
                     "meta": {"_type": "gradio.FileData"}}  # fmt: skip
        body = {"data": [file_data, ["srt"], 1, 42, 1, 20, 7], "fn_index": fn_index,
                "session_hash": session, "trigger_id": None, "event_data": None}  # fmt: skip
        while True:
            joined = http.post(f"{url}gradio_api/queue/join", json=body)
            if joined.status_code != 503:
                break
            outcome.busy += 1
            time.sleep(2.0)
        if joined.status_code != 200:
            outcome.message = joined.json().get("detail", joined.text)
            return outcome
        outcome.joined = time.monotonic()
        with http.stream("GET", f"{url}gradio_api/queue/data?session_hash={session}") as events:
            for line in events.iter_lines():
                if not line.startswith("data: "):
                    continue
                message = json.loads(line[6:])
                if message.get("msg") == "process_starts":
                    outcome.started = time.monotonic()
                if message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    if message.get("success"):
                        outcome.ok, outcome.message = True, output["data"][1]
                    else:
                        outcome.message = output.get("error") or ""
                    break
    return outcome


def fairness(outcomes: list[Outcome]) -> tuple[int, int]:
    """(pairs that started in the other order than they joined, pairs compared); a pair
    counts when the joins were 0.1 s apart or more (closer: the clients' clocks of the
    server's answers cannot order them)."""
    timed = [o for o in outcomes if o.joined is not None and o.started is not None]
    swapped = compared = 0
    for a in timed:
        for b in timed:
            if b.joined - a.joined >= 0.1:
                compared += 1
                swapped += b.started < a.started
    return swapped, compared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--max-waiting", type=int, default=16, help="serve.py's --max-waiting")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-web-load-"))
    media = {
        "good": str(JFK),
        "not media": make_text(work / "notes.mp4"),
        "truncated": make_truncated(work / "cut.mp4"),
        "too long": make_understated_aac(work / "long.aac", 6 * 60),
    }
    server_tmp = work / "server"
    server_tmp.mkdir()
    os.environ["TMPDIR"] = str(server_tmp)  # serve.py's outputs go in here (Gradio's uploads
    # go where running_server puts them: server.uploads)
    options = ["--concurrency", str(args.concurrency), "--max-minutes", "5"]
    options += ["--max-waiting", str(args.max_waiting)]
    with running_server(*options) as server:
        os.environ.pop("TMPDIR")
        config = httpx.get(f"{server.url}config").json()
        fn_index = next(
            i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "subtitle"
        )
        rss = psutil.Process(server.process.pid)
        print(
            f"clients {args.clients}, concurrency {args.concurrency}, max waiting "
            f"{args.max_waiting}, kinds {KINDS}"
        )
        print("round  good done  refused as expected  busy answers  order swaps  "
              "RSS MB  temp tree kB  partial  empty  wall s")  # fmt: skip
        failures = 0
        for number in range(args.rounds):
            start, results, threads = threading.Event(), [], []
            for client in range(args.clients):
                kind = KINDS[(client + number) % len(KINDS)]

                def run(client=client, kind=kind, start=start, results=results):
                    results.append(request(server.url, fn_index, client, kind, media, start))

                threads.append(threading.Thread(target=run))
            for thread in threads:
                thread.start()
            began = time.monotonic()
            start.set()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - began
            time.sleep(1.0)  # dropped uploads noticed, last outputs written
            good = [o for o in results if o.kind == "good"]
            bad = [o for o in results if o.kind in EXPECTED]
            good_done = sum(o.ok and "cue" in o.message for o in good)
            expected = sum(not o.ok and EXPECTED[o.kind] in o.message for o in bad)
            swapped, compared = fairness(results)
            size, partial, empty = tree([server_tmp, server.uploads], server.uploads)
            failures += (good_done < len(good)) + (expected < len(bad)) + partial + empty
            print(
                f"{number + 1:5d}  {good_done:4d}/{len(good):<4d}  {expected:9d}/{len(bad):<9d}  "
                f"{sum(o.busy for o in results):12d}  {swapped:5d}/{compared:<5d}  "
                f"{rss.memory_info().rss / 2**20:6.0f}  {size / 1024:12.0f}  {partial:7d}  "
                f"{empty:5d}  {wall:6.1f}"
            )
            for outcome in results:
                if outcome.kind != "dropped" and outcome.ok != (outcome.kind == "good"):
                    print(
                        f"  unexpected: client {outcome.client} {outcome.kind}: {outcome.message}"
                    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
