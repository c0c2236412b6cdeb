"""`hybrid-dns`: serve, create-user, token, and set-role, disable, enable for operators; `events tail`
and `events export`, clients of a running server (hybrid_dns.client).

Exit codes: 0 done, 1 refused (no such user, the last admin...), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import orjson
from pydantic import ValidationError

from .config import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:

    from .app import create_app
    from .auth.tokens import WeakSecretKey
    from .logs import install_log_redaction
    from .server import HybridServer, uvicorn_config

    try:
        app = create_app(settings)
    except WeakSecretKey as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = uvicorn_config(app, settings, args.host, args.port)
    server = HybridServer(config)
    install_log_redaction()
    server.run()
    return 0


async def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    from .auth.users import UserExists, create_user
    from .db import Database

    password = args.password or os.environ.get("HYBRID_DNS_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"Password for {args.name}: ")
    db = Database(settings.database_url)
    try:
        await db.create_all()
        await create_user(db, args.name, password, args.role)
    except UserExists as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    print(f"created user {args.name!r} with role {args.role}")
    return 0


async def _token(args: argparse.Namespace, settings: Settings) -> int:
    from .auth.sessions import record_session
    from .auth.tokens import WeakSecretKey, issue_token, signing_key
    from .auth.users import get_user
    from .db import Database

    try:
        secret = signing_key(settings)
    except WeakSecretKey as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    try:
        await db.create_all()
        user = await get_user(db, args.name)
        if user is None or not user.is_active:
            print(f"error: no active user {args.name!r}", file=sys.stderr)
            return 1
        token, claims = issue_token(secret, user.username, user.role, args.ttl or settings.ACCESS_TOKEN_TTL)
        async with db() as session, session.begin():
            await record_session(session, claims)  # so that a password reset ends it too
    finally:
        await db.dispose()
    print(token)
    return 0


async def _change_user(args: argparse.Namespace, settings: Settings) -> int:
    """set-role, disable, enable: the change is in the database; every running instance applies it to
    its open sockets within WEBSOCKET_ACCESS_RECHECK_INTERVAL (HTTP requests at once)."""
    from .auth.users import LastAdmin, UnknownUser, set_active, set_role
    from .db import Database

    try:
        via = f"cli ({getpass.getuser()})"
    except Exception:  # no login name (a container's bare uid)
        via = f"cli (uid {os.getuid()})"
    db = Database(settings.database_url)
    try:
        await db.create_all()
        if args.command == "set-role":
            old = await set_role(db, args.name, args.role, actor=None, via=via)
            done = f"{args.name!r} is now {args.role}" + (f" (was {old.value})" if old else " (unchanged)")
        else:
            active = args.command == "enable"
            changed = await set_active(db, args.name, active, actor=None, via=via)
            done = f"{args.name!r} is {'enabled' if active else 'disabled'}" + ("" if changed else " (unchanged)")
    except (UnknownUser, LastAdmin) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    interval = settings.WEBSOCKET_ACCESS_RECHECK_INTERVAL
    print(f"{done}; running servers apply it to open sockets within {interval:g} s")
    return 0


# --- events: a client of a running server ----------------------------------------------------

_EVENTS_EPILOG = """The server is --url, $HYBRID_DNS_URL or http://127.0.0.1:8000. Sign in with --token or
$HYBRID_DNS_TOKEN (e.g. from `hybrid-dns token NAME`), or --user NAME with the password from
$HYBRID_DNS_PASSWORD, stdin or a prompt."""


def _events_parsers(sub: Any) -> None:
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--url", help="the server (default $HYBRID_DNS_URL or http://127.0.0.1:8000)")
    auth = conn.add_mutually_exclusive_group()
    auth.add_argument("--token", help="a JWT (prefer $HYBRID_DNS_TOKEN: arguments show in ps)")
    auth.add_argument("--user", help="sign in as this user (password from $HYBRID_DNS_PASSWORD, stdin or a prompt)")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--type", action="append", dest="types", metavar="TYPE", help="an event type (repeatable)")
    filters.add_argument("--zone", action="append", dest="zones", metavar="ZONE", help="the zone or a name under it")
    filters.add_argument("--severity", choices=["info", "warning", "error", "critical"], help="at least this severity")
    filters.add_argument("--category", action="append", dest="categories", metavar="CATEGORY", help="(repeatable)")
    filters.add_argument("--actor", action="append", dest="actors", metavar="USER", help="who caused it (repeatable)")
    filters.add_argument("--record-type", action="append", dest="record_types", metavar="RRTYPE", help="(repeatable)")
    filters.add_argument("--text", help="case-insensitive text in the event's summary")

    events = sub.add_parser("events", help="follow the event stream (tail) or export the history, from a server")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    tail = events_sub.add_parser(
        "tail",
        parents=[conn, filters],
        help="print events as they happen; resumes after a dropped connection; Ctrl-C stops",
        epilog=_EVENTS_EPILOG,
    )
    tail.add_argument("--since", type=_seq, metavar="SEQ", help="start after this seq (what was missed is replayed)")
    tail.add_argument("--epoch", help="the epoch SEQ belongs to (a different one means the history was lost)")
    tail.add_argument("--json", action="store_true", help="one JSON object per line (NDJSON), as the server sent it")
    tail.add_argument(
        "--reconnect-max",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="longest wait between reconnection attempts (default 30; waits are random up to it, doubling from 0.5)",
    )
    export = events_sub.add_parser(
        "export", parents=[conn, filters], help="write the history (events the user may see)", epilog=_EVENTS_EPILOG
    )
    export.add_argument("--format", choices=["ndjson", "csv"], default="ndjson")
    export.add_argument("--output", "-o", metavar="FILE", help="write here (default: standard output)")
    export.add_argument("--from", dest="time_from", metavar="TIME", help="events at or after this ISO 8601 time")
    export.add_argument("--until", dest="time_until", metavar="TIME", help="events before this ISO 8601 time")
    export.add_argument("--search", "-q", metavar="WORDS", help="full-text search (summary, zone, name, actor, type)")


def _seq(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise argparse.ArgumentTypeError("must be a non-negative integer")
    return int(text)


def _events_filter(args: argparse.Namespace) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key in ("zones", "categories", "actors", "record_types"):
        if getattr(args, key):
            out[key] = list(dict.fromkeys(getattr(args, key)))
    if args.severity:
        out["min_severity"] = args.severity
    if args.text:
        out["text"] = args.text
    return out or None


def _events_credentials(args: argparse.Namespace) -> dict[str, str]:
    if args.token:
        return {"token": args.token}
    if args.user:
        password = os.environ.get("HYBRID_DNS_PASSWORD")
        if not password:
            if not sys.stdin.isatty():
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass(f"Password for {args.user}: ")
        return {"username": args.user, "password": password}
    token = os.environ.get("HYBRID_DNS_TOKEN", "").strip()
    if token:
        return {"token": token}
    raise ValueError("no credentials: pass --token, set $HYBRID_DNS_TOKEN, or sign in with --user NAME")


def _note(message: str) -> None:
    print(f"hybrid-dns: {message}", file=sys.stderr, flush=True)


def _events(args: argparse.Namespace) -> int:
    from . import client as hc

    try:
        credentials = _events_credentials(args)
        url = args.url or os.environ.get("HYBRID_DNS_URL") or "http://127.0.0.1:8000"
        if args.events_command == "tail":  # Ctrl-C is how one stops following: a clean exit
            return asyncio.run(_until_signal(_tail(args, url, credentials), stopped=0))
        return asyncio.run(_until_signal(_export(args, url, credentials), stopped=130))
    except KeyboardInterrupt:  # at the password prompt
        return 130
    except (ValueError, hc.UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except hc.Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if exc.code == 4400 else 1
    except hc.ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `hybrid-dns events tail | head`: the reader left; not an error
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


async def _until_signal(work: Coroutine[Any, Any, int], stopped: int) -> int:
    """Run `work`; SIGINT (Ctrl-C) or SIGTERM cancels it and the command exits `stopped`, with no traceback."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    signals: list[int] = []

    def stop(signum: int) -> None:
        signals.append(signum)
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform, or not the main thread
            loop.add_signal_handler(signum, stop, signum)
    try:
        return await task
    except asyncio.CancelledError:
        if signals:
            return stopped
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


async def _tail(args: argparse.Namespace, url: str, credentials: dict[str, str]) -> int:
    from .client import Client, format_event

    client = Client(
        url,
        token=credentials.get("token"),
        username=credentials.get("username"),
        password=credentials.get("password"),
        event_types=args.types,
        filter=_events_filter(args),
        since=args.since,
        epoch=args.epoch,
        reconnect_max_interval=args.reconnect_max,
        on_notice=_note,
    )
    out = sys.stdout
    try:
        async with client:
            what = ", ".join(client.connection_types)
            _note(f"following events as {client.user} ({client.role}) over {what}; Ctrl-C stops")
            async for event in client.events():
                out.write((orjson.dumps(event.raw).decode() if args.json else format_event(event)) + "\n")
                out.flush()
    finally:
        epoch, seq = client.position
        if seq is not None and epoch:
            _note(f"stopped; to go on from here: --since {seq} --epoch {epoch}")
    return 0


async def _export(args: argparse.Namespace, url: str, credentials: dict[str, str]) -> int:
    from .client import Client

    client = Client(
        url, token=credentials.get("token"), username=credentials.get("username"), password=credentials.get("password")
    )
    async with client:
        chunks = client.export(
            args.format,
            event_types=args.types,
            filter=_events_filter(args),
            since=args.time_from,
            until=args.time_until,
            q=args.search,
        )
        if not args.output:
            async for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        # Written beside the file and renamed when complete: an export cut short leaves no partial file.
        partial = f"{args.output}.part"
        lines = 0
        try:
            with await asyncio.to_thread(open, partial, "wb") as handle:
                async for chunk in chunks:
                    handle.write(chunk)
                    lines += chunk.count(b"\n")
            os.replace(partial, args.output)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    # NDJSON is one event a line; a CSV field may hold a line break, so only its size is told.
    _note(f"wrote {lines} events to {args.output}" if args.format == "ndjson" else f"wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hybrid-dns", description="Hybrid DNS Server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    create = sub.add_parser(
        "create-user", help="create a user (password from --password, $HYBRID_DNS_PASSWORD, stdin or a prompt)"
    )
    create.add_argument("name")
    create.add_argument("--role", choices=["admin", "operator", "viewer"], required=True)
    create.add_argument("--password", help="prefer $HYBRID_DNS_PASSWORD or stdin: arguments show in ps")
    token = sub.add_parser("token", help="print a JWT for a user, for scripts and curl")
    token.add_argument("name")
    token.add_argument("--ttl", type=int, help="seconds (default ACCESS_TOKEN_TTL)")
    set_role = sub.add_parser(
        "set-role", help="change a user's role; its open sockets the new role may not hold are closed"
    )
    set_role.add_argument("name")
    set_role.add_argument("role", choices=["admin", "operator", "viewer"])
    disable = sub.add_parser("disable", help="disable a user: its tokens stop working and its sockets close")
    disable.add_argument("name")
    enable = sub.add_parser("enable", help="enable a disabled user again")
    enable.add_argument("name")
    _events_parsers(sub)
    args = parser.parse_args(argv)
    if args.command == "events":
        return _events(args)  # a client: the server's settings are not needed
    try:
        settings = Settings()
    except ValidationError as exc:
        # Which setting and why, never the value (it may be a secret).
        for err in exc.errors():
            print(f"error: setting {'.'.join(str(p) for p in err['loc'])}: {err['msg']}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "create-user":
        return asyncio.run(_create_user(args, settings))
    if args.command in ("set-role", "disable", "enable"):
        return asyncio.run(_change_user(args, settings))
    return asyncio.run(_token(args, settings))


if __name__ == "__main__":
    sys.exit(main())
