"""The real-time event layer. It knows nothing about DNS, nor about how users are stored.

One event, module by module: `service.py` (business code emits; the event is checked and encoded
once) -> `broker/` (its seq in one global order, history, fan-out to every instance) -> `hub.py`
(which connections may see it) -> `connection.py` with `sendqueue.py` (each socket's bounded queue
and its writes; `delivery.py`, what one dispatch shares) -> `uvicorn_protocol.py` (the socket writer).

Around it: `events.py` (types and the registry), `protocol.py` (protocol v1, sans I/O),
`endpoint.py` and `session.py` (the socket route, and each socket's session), `runtime.py`
(one instance's parts wired together), and docs/architecture.md for the whole picture.
"""
