"""`hybrid-dns`: serve, create-user, token, and set-role, disable, enable for operators.

Exit codes: 0 done, 1 refused (no such user, the last admin...), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from pydantic import ValidationError

from .config import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .app import create_app
    from .auth.tokens import WeakSecretKey
    from .logs import install_log_redaction
    from .server import uvicorn_config

    try:
        app = create_app(settings)
    except WeakSecretKey as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = uvicorn_config(app, settings, args.host, args.port)
    server = uvicorn.Server(config)
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
    args = parser.parse_args(argv)
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
