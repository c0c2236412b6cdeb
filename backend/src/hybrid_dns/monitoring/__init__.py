"""What the server watches: forwarder health (`forwarders.py`) and the host's figures (`system.py`)."""
