"""Hybrid DNS Server: DNS management with real-time events. `create_app` (app.py) builds the app."""
