"""`reconciler status`: the daemon's view with ``--daemon``, else the one read from the repo.

Asking a daemon imports neither git nor the forges: the whole process is the interpreter,
the view's types and one HTTP GET.
"""

from __future__ import annotations

import argparse

from reconciler import overview
from reconciler.clock import utc_now
from reconciler.daemonview import read_document, status_url
from reconciler.errors import ReconcilerError
from reconciler.httpclient.addresses import safe_url
from reconciler.verbs import EXIT_OK, fail, fleet_json


def status(args: argparse.Namespace) -> int:
    """Per app and environment: desired, live, drift, gates, request, blocked."""
    if not args.daemon:
        from reconciler.verbs import reconcile  # noqa: PLC0415 - git, forges: only when used

        return reconcile.status(args)
    try:
        view, sent = read_document(args.daemon)
    except ReconcilerError as exc:
        return fail("status", str(exc))
    if args.json:
        print(fleet_json(view, sent), end="")
    else:
        print(overview.text(view, utc_now(), address=safe_url(status_url(args.daemon))), end="")
    return EXIT_OK
