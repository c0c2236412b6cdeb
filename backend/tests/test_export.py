"""GET /api/events/export on a real server: NDJSON and CSV, streamed, with the history's filters and the
role rules; what it exports is what the history pages show. (Constant memory for 100,000 events is a
benchmark figure: bench/history_bench.py.)"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from conftest import LiveServer

from hybrid_dns.realtime.events import EventDraft, EventType


async def all_pages(http: Any, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (await http.get("/api/events", params=[*params, ("after_seq", str(after)), ("limit", "500")])).json()
        out += page["events"]
        if not page["has_more"]:
            return out
        after = page["events"][-1]["seq"]


async def test_ndjson_export_is_the_history_streamed_with_filters_and_role_rules(server: LiveServer) -> None:
    drafts = [
        EventDraft.make(EventType.RECORD_CREATED, {"zone": f"z{i % 7}.example", "name": f"h{i}", "type": "A"})
        for i in range(2500)
    ]
    await server.call(server.realtime.service.publish(drafts))
    await server.emit("security_alert", {"alert": "x", "message": "not for viewers"})
    async with server.http("viewer") as viewer, server.http("op") as op:
        async with viewer.stream("GET", "/api/events/export") as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-ndjson"
            assert response.headers["content-disposition"].startswith('attachment; filename="hybrid-dns-events-')
            assert response.headers["content-disposition"].endswith('.ndjson"')
            chunks = [chunk async for chunk in response.aiter_bytes()]
        lines = b"".join(chunks).decode().splitlines()
        exported = [orjson.loads(line) for line in lines]
        assert [e["id"] for e in exported] == [d.id for d in drafts]  # oldest first; no security event
        first = exported[0]
        assert set(first) == {"type", "id", "seq", "category", "severity", "timestamp", "actor", "about", "data"}
        assert first["about"]["name"] == "h0.z0.example"
        # The same filters as the history, and the same events.
        params = [("zone", "z3.example"), ("q", "h1")]
        filtered = [
            orjson.loads(line) for line in (await viewer.get("/api/events/export", params=params)).text.splitlines()
        ]
        assert [e["id"] for e in filtered] == [e["id"] for e in await all_pages(viewer, params)]
        assert filtered and all(e["about"]["zone"] == "z3.example" for e in filtered)
        # The operator may see security events: exported too.
        op_lines = (await op.get("/api/events/export", params={"category": "security"})).text.splitlines()
        assert [orjson.loads(line)["type"] for line in op_lines] == ["security_alert"]


async def test_csv_export_has_the_documented_columns_and_disarms_formulas(server: LiveServer) -> None:
    await server.emit(
        "record_created",
        {"zone": "csv.example", "name": "www", "type": "TXT", "value": 'a "quoted", value'},
        actor="op",
    )
    await server.emit("security_alert", {"alert": "x", "message": '=HYPERLINK("http://evil")'})
    async with server.http("admin") as admin:
        response = await admin.get("/api/events/export", params={"format": "csv"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert list(rows[0]) == [
            "seq",
            "id",
            "timestamp",
            "type",
            "category",
            "severity",
            "actor",
            "zone",
            "name",
            "record_type",
            "summary",
            "data",
        ]
        record, alert = rows
        assert (record["type"], record["actor"], record["zone"], record["name"], record["record_type"]) == (
            "record_created",
            "op",
            "csv.example",
            "www.csv.example",
            "TXT",
        )
        assert orjson.loads(record["data"])["value"] == 'a "quoted", value'
        assert alert["summary"].startswith("Security alert: ")  # the summary's title comes first
        assert orjson.loads(alert["data"])["message"].startswith("=")  # data is JSON: never read as a formula
        # A cell that would start with "=" is written as text.
        await server.emit("user_login", {"username": "=cmd|' /C calc'!A0"}, actor="=cmd|' /C calc'!A0")
        rows = list(
            csv.DictReader(io.StringIO((await admin.get("/api/events/export?format=csv&type=user_login")).text))
        )
        assert rows[0]["actor"] == rows[0]["name"] == "'=cmd|' /C calc'!A0"
        assert rows[0]["summary"].startswith("User signed in: =cmd")  # not at the start: a formula never


async def test_export_refuses_bad_parameters_and_anonymous_callers(server: LiveServer) -> None:
    async with server.http("viewer") as viewer:
        response = await viewer.get("/api/events/export", params={"format": "xml"})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.format"
        response = await viewer.get("/api/events/export", params={"zone": "no zone"})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.zone.0"
    async with server.http() as anonymous:
        assert (await anonymous.get("/api/events/export")).status_code == 401
