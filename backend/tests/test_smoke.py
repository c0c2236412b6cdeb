from conftest import LiveServer, ws_open


async def test_admin_receives_emitted_event(server: LiveServer) -> None:
    async with ws_open(server, "admin", "admin") as client:
        assert client.connected is not None
        assert client.connected["protocol"] == 1
        event = await server.emit("zone_created", {"zone": "example.com"}, actor="admin")
        got = await client.next_event()
        assert got["id"] == event.id
        assert got["seq"] == event.seq
        assert got["type"] == "zone_created"
        assert got["data"] == {"zone": "example.com"}
        assert got["timestamp"].endswith("Z")
