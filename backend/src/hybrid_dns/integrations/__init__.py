"""Integrations: events reaching the tools operators already run (webhooks, Alertmanager).

This layer sits between the HTTP API and the rest: it may use the real-time layer, DNS, monitoring
and the foundation; the API and the app use it; the real-time layer knows nothing of it.
"""
