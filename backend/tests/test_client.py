"""The terminal client (`hybrid-dns events tail|export`, real processes) and the Python client class
(`hybrid_dns.client`) against real servers: what a user sees in the terminal, filters, Ctrl-C, the
export, and nothing lost or repeated across a network outage, a sign-out and server restarts."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import uvicorn
from conftest import PASSWORD, LiveServer, wait_until

from hybrid_dns.client import AuthError, Client, Event, Refused, Reset, UsageError
from hybrid_dns.server import uvicorn_config

EVENTS_CLI = [sys.executable, "-m", "hybrid_dns.cli", "events"]
CSV_COLUMNS = "seq,id,timestamp,type,category,severity,actor,zone,name,record_type,summary,data".split(",")


class Tail:
    """A `hybrid-dns events tail` process; its stdout and stderr lines are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.ensure_future(self._read(proc.stdout, self.out)),
            asyncio.ensure_future(self._read(proc.stderr, self.err)),
        ]

    @classmethod
    async def start(cls, url: str, *args: str, token: str, env: dict[str, str] | None = None) -> Tail:
        environ = {**os.environ, "HYBRID_DNS_URL": url, "HYBRID_DNS_TOKEN": token, **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            *EVENTS_CLI,
            "tail",
            *args,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return cls(proc)

    @staticmethod
    async def _read(stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode().rstrip("\n"))

    async def wait(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        try:
            await wait_until(lambda: condition() or self.proc.returncode is not None, timeout, what)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; stdout {self.out[-5:]}, stderr {self.err}") from None
        assert condition(), f"tail exited ({self.proc.returncode}) before {what}; stderr {self.err}"

    async def connected(self, count: int = 1) -> None:
        await self.wait(lambda: sum("connected (" in line for line in self.err) >= count, "the stream to connect")

    async def lines(self, count: int) -> list[str]:
        await self.wait(lambda: len(self.out) >= count, f"{count} lines")
        return self.out

    async def stop(self, signum: int = signal.SIGINT) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signum)
        code = await asyncio.wait_for(self.proc.wait(), 15)
        await asyncio.wait_for(asyncio.gather(*self._readers), 5)
        return code

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


async def run_events(url: str, *args: str, token: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_DNS_")}
    environ.update({"HYBRID_DNS_URL": url, **env})
    if token is not None:
        environ["HYBRID_DNS_TOKEN"] = token
    return await asyncio.to_thread(
        subprocess.run,
        [*EVENTS_CLI, *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


class PortServer(LiveServer):
    """A LiveServer on a given port: the same server restarted at the same address."""

    def __init__(self, data_dir: Path, port: int, **overrides: Any) -> None:
        super().__init__(data_dir, **overrides)
        self.port = port
        self.config = uvicorn_config(self.app, self.settings, "127.0.0.1", port, log_level="warning")
        self.server = uvicorn.Server(self.config)


class Gate:
    """A TCP relay in front of a server. `cut()` drops every connection through it and refuses new
    ones (the network is gone, as the client sees it); `open()` lets them through again."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.passing = True
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Gate:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.passing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, up_writer}
        self.writers |= pair

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.writers -= pair

    def cut(self) -> None:
        self.passing = False
        for writer in list(self.writers):
            writer.transport.abort()

    def open(self) -> None:
        self.passing = True

    async def close(self) -> None:
        self.cut()
        self.server.close()
        await self.server.wait_closed()


def clean_exit(code: int, err: list[str] | str) -> None:
    text = "\n".join(err) if isinstance(err, list) else err
    assert code == 0, text
    assert "Traceback" not in text, text


async def test_tail_prints_one_readable_line_per_event_or_ndjson_with_filters(server: LiveServer) -> None:
    readable = await Tail.start(
        server.base_url,
        "--type",
        "zone_created",
        "--type",
        "zone_deleted",
        token=server.token("op"),
        env={"TZ": "Asia/Tokyo"},
    )
    filtered = await Tail.start(
        server.base_url, "--json", "--zone", "corp.example", "--severity", "warning", token=server.token("viewer")
    )
    try:
        await readable.connected()
        await filtered.connected(3)  # a viewer's health, dns_management and system streams
        record = {"zone": "corp.example", "name": "www", "type": "A", "value": "192.0.2.1"}
        emitted = [
            await server.emit("zone_created", {"zone": "corp.example"}, actor="op"),
            await server.emit("record_created", record, actor="op"),
            await server.emit("zone_created", {"zone": "other.example"}, actor="admin"),
            await server.emit(
                "record_deleted", {"zone": "lab.corp.example", "name": "old", "type": "TXT"}, severity="warning"
            ),
            await server.emit("zone_deleted", {"zone": "other.example"}, actor="admin"),
            await server.emit("zone_deleted", {"zone": "corp.example"}, actor="op"),
        ]
        async with server.http("admin") as admin:
            frames = {e["id"]: e for e in (await admin.get("/api/events")).json()["events"]}

        shown = [e for e in emitted if e.type.value in ("zone_created", "zone_deleted")]
        await readable.wait(lambda: any(line.endswith(f"#{shown[-1].seq}") for line in readable.out), "the last line")
        assert len(readable.out) == len(shown), readable.out
        tokyo = ZoneInfo("Asia/Tokyo")
        for line, event in zip(readable.out, shown, strict=True):
            frame = frames[event.id]
            local = datetime.fromisoformat(frame["timestamp"]).astimezone(tokyo)
            assert line.startswith(f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} JST  "), line
            assert line.split()[3:6] == [frame["severity"], frame["type"], frame["actor"]], line
            assert frame["about"]["summary"] in line and line.endswith(f"#{frame['seq']}"), line
        assert "Zone deleted: corp.example" in readable.out[-1]

        # Under corp.example, warning or worse: the record deleted in lab.corp.example and the zone deleted.
        wanted = [emitted[3].id, emitted[5].id]
        await filtered.wait(lambda: any(wanted[-1] in line for line in filtered.out), "the filtered events")
        got = [orjson.loads(line) for line in filtered.out]
        assert [e["id"] for e in got] == wanted
        assert got == [{k: v for k, v in frames[i].items() if k != "read"} for i in wanted]  # as the server sent it
        for tail in (readable, filtered):
            clean_exit(await tail.stop(signal.SIGINT), tail.err)
    finally:
        readable.kill()
        filtered.kill()


async def test_ctrl_c_and_sigterm_stop_tail_cleanly_and_tell_where_to_go_on(server: LiveServer) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        tail = await Tail.start(server.base_url, token=server.token("admin"))
        try:
            await tail.connected()
            event = await server.emit("zone_updated", {"zone": "a.example"})
            await tail.lines(1)
            code = await tail.stop(signum)
        finally:
            tail.kill()
        clean_exit(code, tail.err)
        assert any(f"--since {event.seq} --epoch " in line for line in tail.err), tail.err


async def test_tail_resumes_across_an_outage_and_server_restarts_with_nothing_lost_or_repeated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    servers = [LiveServer(data).start()]
    port = servers[0].port
    gate = await Gate(port).start()
    tail = await Tail.start(gate.url, "--json", "--reconnect-max", "0.5", token=servers[0].token("admin"))
    emitted: list[Any] = []

    async def emit(n: int, kind: str) -> None:
        for _ in range(n):
            emitted.append(await servers[-1].emit(kind, {"zone": f"z{len(emitted)}.example"}))

    async def restart() -> None:  # in a thread: the gate relays in this loop meanwhile
        await asyncio.to_thread(servers[-1].stop)
        servers.append(await asyncio.to_thread(lambda: PortServer(data, port).start()))  # same address, same database

    try:
        await tail.connected()
        await emit(3, "zone_created")
        await tail.lines(3)
        gate.cut()  # the network goes
        await emit(3, "zone_updated")  # missed while away
        await restart()
        await emit(3, "zone_deleted")  # on the restarted server, before the client is back
        gate.open()
        await emit(2, "record_created")  # live again
        await tail.lines(11)
        await restart()  # a restart the client sees (1001), and events while it reconnects
        await emit(3, "record_deleted")
        await tail.lines(14)
        await tail.wait(lambda: any(emitted[-1].id in line for line in tail.out), "the last event")
        got = [orjson.loads(line) for line in tail.out]
        assert [e["id"] for e in got] == [e.id for e in emitted]  # each once, in order
        assert [e["seq"] for e in got] == [e.seq for e in emitted]
        assert len({e.seq for e in emitted}) == 14
        assert sum("resuming after seq" in line for line in tail.err) >= 2, tail.err
        code = await tail.stop(signal.SIGTERM)
        clean_exit(code, tail.err)
    finally:
        tail.kill()
        await gate.close()
        await asyncio.to_thread(servers[-1].stop)


async def test_export_writes_every_event_the_user_may_see(server: LiveServer, tmp_path: Path) -> None:
    emitted = []
    for i in range(40):
        kind = ("zone_created", "record_created", "security_alert", "bind_reload")[i % 4]
        emitted.append(
            await server.emit(kind, {"zone": f"z{i}.example", "name": "www", "type": "A", "value": f"n,{i}"})
        )
    ndjson = tmp_path / "all.ndjson"
    done = await run_events(server.base_url, "export", "--output", str(ndjson), token=server.token("admin"))
    clean_exit(done.returncode, done.stderr)
    assert f"wrote 40 events to {ndjson}" in done.stderr
    rows = [orjson.loads(line) for line in ndjson.read_bytes().splitlines()]
    assert [r["id"] for r in rows] == [e.id for e in emitted]
    assert not list(tmp_path.glob("*.part"))

    # CSV, as a viewer (who may not see security alerts), on standard output, only DNS zones and records.
    out = await run_events(
        server.base_url,
        "export",
        "--format",
        "csv",
        "--type",
        "zone_created",
        "--type",
        "record_created",
        "--type",
        "security_alert",
        token=server.token("viewer"),
    )
    clean_exit(out.returncode, out.stderr)
    table = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(table[0]) == CSV_COLUMNS
    visible = [e for e in emitted if e.type.value in ("zone_created", "record_created")]
    assert [r["id"] for r in table] == [e.id for e in visible]
    assert [orjson.loads(r["data"]) for r in table] == [e.data for e in visible]
    assert table[1]["record_type"] == "A" and table[1]["zone"] == "z1.example" and table[1]["name"] == "www.z1.example"


async def test_refusals_are_clear_errors_not_retries(server: LiveServer) -> None:
    viewer = server.token("viewer")
    bad_token, no_token, forbidden, unknown, bad_zone, nobody = await asyncio.gather(
        run_events(server.base_url, "tail", token="not-a-token"),
        run_events(server.base_url, "tail"),
        run_events(server.base_url, "tail", "--type", "security_alert", token=viewer),
        run_events(server.base_url, "tail", "--type", "zone_exploded", token=viewer),
        run_events(server.base_url, "tail", "--zone", "not a zone!", token=viewer),
        run_events("http://127.0.0.1:9", "tail", token="x"),
    )
    assert bad_token.returncode == 1 and "refused the token" in bad_token.stderr, bad_token.stderr
    assert no_token.returncode == 2 and "HYBRID_DNS_TOKEN" in no_token.stderr
    assert forbidden.returncode == 2 and "does not receive: security_alert" in forbidden.stderr
    assert unknown.returncode == 2 and "unknown event types: zone_exploded" in unknown.stderr
    assert bad_zone.returncode == 2 and "invalid filter: filter.zones.0" in bad_zone.stderr, bad_zone.stderr
    assert nobody.returncode == 1 and "cannot reach http://127.0.0.1:9" in nobody.stderr
    for done in (bad_token, no_token, forbidden, unknown, bad_zone, nobody):
        assert "Traceback" not in done.stderr

    with pytest.raises(AuthError, match="sign-in refused"):
        async with Client(server.base_url, username="viewer", password="wrong password"):
            pass
    with pytest.raises(UsageError, match="not a server URL"):
        Client("ftp://example", token="x")

    # A terminal close while following (the user was disabled) ends the stream with Refused.
    notices: list[str] = []
    token = server.token("viewer2")
    async with Client(server.base_url, token=token, event_types=["zone_created"], on_notice=notices.append) as client:
        stream = client.events()
        first = asyncio.ensure_future(anext(stream))
        await wait_until(lambda: any("connected (" in n for n in notices), what="the client's socket")
        async with server.http("admin") as admin:
            assert (await admin.patch("/api/users/viewer2", json={"disabled": True})).status_code == 200
        with pytest.raises(Refused) as refused:
            await asyncio.wait_for(first, 10)
        assert refused.value.code == 4403 and refused.value.reason == "user not allowed"
        await stream.aclose()


async def test_client_class_merges_a_viewers_streams_and_signs_in_again_after_a_sign_out(server: LiveServer) -> None:
    notices: list[str] = []
    got: list[Event] = []
    async with Client(
        server.base_url, username="viewer", password=PASSWORD, reconnect_max_interval=0.3, on_notice=notices.append
    ) as client:
        assert sorted(client.connection_types) == ["dns_management", "health", "system"]  # a viewer has no `admin`

        async def consume() -> None:
            async for event in client.events():
                got.append(event)

        consumer = asyncio.ensure_future(consume())
        try:
            await wait_until(lambda: sum("connected (" in n for n in notices) == 3, what="three sockets")
            first = [
                await server.emit("zone_created", {"zone": "a.example"}),  # dns_management
                await server.emit("health_alert", {"component": "bind"}),  # health
                await server.emit("bind_reload", {"zones": 1}),  # dns_management and system: yielded once
                await server.emit("config_change", {"section": "settings"}),  # the same
                await server.emit("security_alert", {"alert": "x"}),  # not for viewers
                await server.emit("zone_deleted", {"zone": "a.example"}),
            ]
            await wait_until(lambda: first[-1].id in {e.id for e in got}, what="the first events")
            assert sorted(e.id for e in got) == sorted(e.id for e in first if e.type.value != "security_alert")
            before = len(got)
            epoch, seq = client.position  # the lowest of the three streams' positions
            assert epoch and seq is not None and first[0].seq <= seq <= first[-1].seq

            # Signed out (its sockets close with 4001): the client signs in again and resumes.
            old_token = client.token
            async with server.http() as http:
                out = await http.post("/api/auth/logout", headers={"Authorization": f"Bearer {old_token}"})
                assert out.status_code == 204
            away = [await server.emit("record_created", {"zone": "a.example", "name": f"r{i}"}) for i in range(3)]
            await wait_until(lambda: away[-1].id in {e.id for e in got}, timeout=15, what="events after sign-in")
            assert client.token != old_token
            later = got[before:]
            assert [e.id for e in later if e.type == "record_created"] == [e.id for e in away]
            assert {e.type for e in later} <= {"record_created", "user_logout", "session_expired", "user_login"}
            assert len({e.id for e in got}) == len(got)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer


async def test_what_the_server_cannot_replay_is_read_from_the_history_or_reported(make_server: Any) -> None:
    server: LiveServer = make_server(EVENT_REPLAY_LIMIT=5)
    emitted = [await server.emit("zone_updated", {"zone": f"z{i}.example"}) for i in range(12)]
    async with server.http("admin") as admin:
        epoch = (await admin.get("/api/events")).json()["epoch"]

    # Too far behind for a replay (12 seqs > EVENT_REPLAY_LIMIT): the 12 are read from GET /api/events.
    resets: list[Reset] = []
    got: list[Event] = []
    async with (
        Client(server.base_url, token=server.token("admin"), since=0, epoch=epoch, on_reset=resets.append) as client,
        contextlib.aclosing(client.events()) as stream,
        asyncio.timeout(15),
    ):
        async for event in stream:
            got.append(event)
            if len(got) == 12:  # caught up: one more, live
                emitted.append(await server.emit("zone_deleted", {"zone": "live.example"}))
            elif len(got) == 13:
                break
    assert [e.id for e in got] == [e.id for e in emitted]
    assert [(r.reason, r.filled, r.may_have_missed) for r in resets] == [("too_far_behind", 12, False)]
    assert client.position == (epoch, emitted[-1].seq)

    # Another epoch (the history those seqs belong to is gone): reported, and the stream goes on.
    resets.clear()
    got.clear()
    async with Client(
        server.base_url, token=server.token("admin"), since=3, epoch="0123456789abcdef", on_reset=resets.append
    ) as client:
        stream = client.events()
        first = asyncio.ensure_future(anext(stream))
        await wait_until(lambda: bool(resets), what="the reset")
        live = await server.emit("zone_created", {"zone": "after.example"})
        assert (await asyncio.wait_for(first, 10)).id == live.id
        await stream.aclose()
    assert [(r.reason, r.epoch, r.filled, r.may_have_missed) for r in resets] == [("epoch_changed", epoch, 0, True)]
