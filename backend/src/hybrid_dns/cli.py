"""`hybrid-dns`: serve, create-user, token."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from .config import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .app import create_app
    from .server import install_log_redaction, uvicorn_config

    app = create_app(settings)
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
    from .auth.tokens import issue_token
    from .auth.users import get_user
    from .db import Database

    db = Database(settings.database_url)
    try:
        await db.create_all()
        user = await get_user(db, args.name)
    finally:
        await db.dispose()
    if user is None or not user.is_active:
        print(f"error: no active user {args.name!r}", file=sys.stderr)
        return 1
    token, _ = issue_token(settings.secret_key(), user.username, user.role, args.ttl or settings.ACCESS_TOKEN_TTL)
    print(token)
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
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "create-user":
        return asyncio.run(_create_user(args, settings))
    return asyncio.run(_token(args, settings))


if __name__ == "__main__":
    sys.exit(main())
