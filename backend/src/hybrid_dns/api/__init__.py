"""The HTTP API: one router per resource, the request dependencies (`deps.py`) and the contract
every route keeps (`contract.py`). The top layer for HTTP: nothing below it imports from here."""
