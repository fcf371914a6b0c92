"""`reconciler demo [--serve]`: the whole promotion flow on embedded defaults."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from reconciler.daemon import CycleStatus, Daemon, install_signal_handlers
from reconciler.demo import flow
from reconciler.server import StatusServer
from reconciler.verbs import EXIT_OK


def demo(args: argparse.Namespace) -> int:
    """Run the story; with --serve, keep reconciling and serving /metrics until interrupted."""
    workdir = Path(args.dir) if args.dir else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    finished = flow.run(quick=args.quick, out=sys.stdout, workdir=workdir, rollback=args.rollback)
    try:
        if not args.serve:
            return EXIT_OK
        wired = finished.wired
        assert wired is not None

        def cycle() -> CycleStatus:
            result = finished.cycle()
            return CycleStatus(
                ok=True, policy_valid=result.observation.policy_valid, summary=result.summary()
            )

        daemon = Daemon(cycle, interval=timedelta(seconds=2))
        server = StatusServer(args.listen, wired.metrics, daemon.status).start()
        restore = install_signal_handlers(daemon)
        print(f"\nserving http://{server.address}/metrics until interrupted (Ctrl-C)", flush=True)
        try:
            return daemon.run()
        finally:
            server.stop()
            restore()
    finally:
        finished.stop()
        if finished.temporary:
            print(f"\nremoved {finished.workdir} (--dir DIR keeps the demo's repos)")
