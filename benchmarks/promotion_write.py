"""One promotion write (edit + commit + push to a local bare remote), side by side with the
shell pipeline a CI job runs today: `git clone --depth 1`, `sed`, `git commit`, `git push`.

    python -m benchmarks.promotion_write [--apps 1000] [--repeat 10]

Both sides pin a new digest in one prod overlay of the same generated repo and push it;
the daemon side works from its warm cache clone, as it does in every cycle after the first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import line, median_ms, remote, timed
from benchmarks.generate import _GIT_ENV, app_name, digest
from reconciler.gitrepo.port import ReadView, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.gitrepo.trailers import Trailer
from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App

BOT = Signature("reconciler", "reconciler@example.com", datetime(2026, 11, 26, tzinfo=UTC))


def run(apps: int, repeat: int) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        bare = remote(work, apps)
        app = App(name=app_name(7), image=f"registry.example.com/team/{app_name(7)}")
        path = f"overlays/prod/{app.name}/kustomization.yaml"
        repo = Pygit2ConfigRepo.open(str(bare), work / "cache")
        counter = iter(range(10**6))

        def ours() -> None:
            pin = ImagePin(app.image, "", digest(f"ours-{next(counter)}"))

            def edit(view: ReadView) -> dict[str, bytes | None] | None:
                data = view.read(path)
                assert data is not None
                return {path: pins.write_pin("kustomize", data, path, app, pin)}

            repo.update_branch(
                "main",
                edit,
                message=f"prod: promote {app.name}",
                author=BOT,
                committer=BOT,
                trailers=(Trailer("Image-Digest", pin.digest),),
            )

        def shell() -> None:
            n = next(counter)
            clone = work / f"clone-{n}"
            new = digest(f"shell-{n}")
            script = (
                f"git clone -q --depth 1 file://{bare} {clone} && cd {clone} && "
                rf"sed -i 's/sha256:[0-9a-f]\{{64\}}/{new}/' {path} && "
                f"git commit -q -am 'prod: promote {app.name}' && git push -q origin main"
            )
            subprocess.run(["sh", "-c", script], check=True, env={**os.environ, **_GIT_ENV})

        ours()  # the daemon's clone is warm after its first cycle
        mine = timed(ours, repeat)
        theirs = timed(shell, repeat)
    ratio = median_ms(theirs) / median_ms(mine)
    return [
        line(f"promotion write, reconciler ({apps} apps)", f"{median_ms(mine):.1f} ms", "median"),
        line("promotion write, clone+sed+commit+push", f"{median_ms(theirs):.1f} ms", "median"),
        line("speed-up (target >= 30x)", f"{ratio:.1f}x"),
    ]


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    print("\n".join(run(args.apps, args.repeat)))


if __name__ == "__main__":
    main()
