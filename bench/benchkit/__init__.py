"""The WebSocket benchmarks' library: what `ws_bench.py` and `multi_bench.py` (the drivers) and
`bench_server.py` and `plain_server.py` (the servers they start) are made of.

One event's way through a run, and the module that holds each part:

- `runs`: a run. It asks the emitting server to emit (`control`: its bench routes, over HTTP),
  waits until every connection received every event or nothing more comes, and turns what the
  client recorded and what `/proc` says into one run's figures; the quiet wait, the retries of a
  disturbed run, the schedule of runs and the options both drivers share.
- `server`: in each server, the emitter behind `POST /bench/emit` and the bench routes.
- `client`: the load client that receives the events: a hand-written asyncio WebSocket client,
  kept because it costs the client core about half the CPU per event of the websockets library's
  client where each event is a frame of its own (`library_client`, the comparison;
  bench/README.md has the figures).
- `processes`: the servers and redis-server as processes: started pinned, stopped for sure.
- `system`: pinning, the open-file limit, CPU and memory from `/proc`, the machine's description.
- `driver`: what a driver does around its runs: its scratch directory, stopping every process it
  started however it ends, writing the report.
- `fanout` and `fanout_report`: what `ws_bench.py` runs for one server variant, and its report.
- `multi` and `multi_report`: what `multi_bench.py` runs for one configuration, and its report.
- `report`: what both reports share.

The servers import only `system` and `server`, which need nothing from the drivers' side.
"""
