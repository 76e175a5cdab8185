"""Subcommands of the ``nephlab`` command line defined by this package (see ``nephlab.cli``).

``nephlab serve [--port 5006] [--address 127.0.0.1] [--show/--no-show]`` serves the app of
:mod:`nephlab.widgets.app` (routes ``/``, ``/lindblad``, ``/protocol``, ``/largedev``,
``/cluster``). For shared deployments, Panel's authentication options pass through:
``--basic-auth PASSWORD|FILE``, ``--cookie-secret``, ``--oauth-provider``, ``--oauth-key``,
``--oauth-secret``, ``--oauth-redirect-uri``, ``--oauth-encryption-key``.
"""

from __future__ import annotations

import argparse
import os

from nephlab.cli import Command

__all__ = ["COMMANDS"]

_AUTH_OPTIONS = ("basic_auth", "cookie_secret", "oauth_provider", "oauth_key", "oauth_secret",
                 "oauth_redirect_uri", "oauth_encryption_key")


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=5006, help="TCP port (default: %(default)s; 0 picks a free one)")
    p.add_argument("--address", default="127.0.0.1",
                   help="interface to bind (default: %(default)s, loopback only; websocket origins are "
                        "restricted to ADDRESS:PORT)")
    p.add_argument("--show", action=argparse.BooleanOptionalAction, default=True,
                   help="open a browser tab (default: --show)")
    p.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST:PORT",
                   help="an extra allowed websocket origin, e.g. behind a reverse proxy (repeatable)")
    auth = p.add_argument_group("authentication (Panel options, for shared deployments)")
    auth.add_argument("--basic-auth", metavar="PASSWORD|FILE",
                      help="one password, or a JSON file {user: password}; needs --cookie-secret")
    auth.add_argument("--cookie-secret", help="secret that signs the session cookies (or $PANEL_COOKIE_SECRET)")
    auth.add_argument("--oauth-provider", help="OAuth provider: github, google, azure, okta, generic, ...")
    auth.add_argument("--oauth-key", help="OAuth client id")
    auth.add_argument("--oauth-secret", help="OAuth client secret")
    auth.add_argument("--oauth-redirect-uri", help="OAuth redirect URI")
    auth.add_argument("--oauth-encryption-key", help="key that encrypts the OAuth tokens in the cookie")


def _serve(args: argparse.Namespace, rest: list[str]) -> int:
    from . import app

    if not 0 <= args.port <= 65535:
        print(f"nephlab serve: --port must be in [0, 65535], got {args.port}")
        return 2
    auth = {k: getattr(args, k) for k in _AUTH_OPTIONS if getattr(args, k, None)}
    if "cookie_secret" not in auth and os.environ.get("PANEL_COOKIE_SECRET"):
        auth["cookie_secret"] = os.environ["PANEL_COOKIE_SECRET"]
    if ("basic_auth" in auth or "oauth_provider" in auth) and "cookie_secret" not in auth:
        print("nephlab serve: --basic-auth/--oauth-provider need --cookie-secret (or $PANEL_COOKIE_SECRET)")
        return 2
    print(f"nephlab serve: http://{args.address}:{args.port}/  (Ctrl-C stops)", flush=True)
    try:
        app.serve(port=args.port, address=args.address, show=args.show,
                  extra_origins=tuple(args.allow_websocket_origin), **auth)
    except KeyboardInterrupt:
        return 0
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("serve", "serve the nephlab app (Lindblad, protocol, large deviations, cluster)", _serve,
            add_arguments=_serve_args),
)
