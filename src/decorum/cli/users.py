"""``decorum users``: console and API users, their roles and login tokens (a token is printed once, never listed)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from decorum.cli.base import EXIT_OK, Lazy, Parser


def add_parser(sub: Any, lazy: Lazy) -> None:
    us = sub.add_parser("users", help="console and API users: roles and login tokens")
    usub = us.add_subparsers(dest="users_command", required=True, parser_class=Parser)
    ua = usub.add_parser("add", help="create a user and print its token (once: only its hash is kept)")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["viewer", "auditor", "editor", "publisher", "admin"],
                    help="cumulative: viewer < auditor < editor < publisher < admin")
    ua.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    ua.add_argument("--json", action="store_true")
    ul = usub.add_parser("list", help="every user with role, state and last use (never tokens)")
    ul.add_argument("--json", action="store_true")
    ur = usub.add_parser("revoke", help="revoke a user's token and end their console sessions")
    ur.add_argument("name")
    ur.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    ur.add_argument("--json", action="store_true")
    ue = usub.add_parser("events", help="refusals (401/403), logins and user changes, newest first")
    ue.add_argument("--limit", type=int, default=50)
    ue.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    return _users(args)


def _users(args: argparse.Namespace) -> int:
    from decorum.access import local_admin
    from decorum.bot.runtime import Runtime
    from decorum.errors import UsageError
    from decorum.settings import local_actor

    access = Runtime.open().access
    if args.users_command == "add":
        user, token = access.add_user(args.name, args.role, by=local_admin(local_actor(args.actor)))
        if args.json:
            print(json.dumps({**user, "token": token}))
        else:
            print(f"user {user['name']} added with role {user['role']}. Their token (shown once, keep it secret):")
            print(token)
        return EXIT_OK
    if args.users_command == "revoke":
        user = access.revoke_user(args.name, by=local_admin(local_actor(args.actor)))
        print(json.dumps(user) if args.json else f"user {user['name']} revoked at {user['revoked_at']}")
        return EXIT_OK
    if args.users_command == "events":
        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
        events = access.events(limit=args.limit)
        if args.json:
            print(json.dumps(events))
        else:
            for e in events:
                print(f"{e['at']}  {e['outcome']:<10} {e['action']:<18} {e['actor']} via {e['via']} "
                      f"on {e['surface']} {e['target']}")
        return EXIT_OK
    # No part of a token, not even the stored first characters: a user has one token, so the name tells them apart.
    users = [{k: v for k, v in u.items() if k != "token_hint"} for u in access.list_users()]
    if args.json:
        print(json.dumps(users))
    else:
        for u in users:
            state = "active" if u["active"] else f"revoked {u['revoked_at']}"
            print(f"{u['name']:<20} {u['role']:<10} {state:<32} last used {u['last_used_at'] or 'never'}")
        if not users:
            print("no users (decorum users add NAME --role admin)")
    return EXIT_OK
