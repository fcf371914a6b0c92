"""Reading every overlay of a 1,000-app repo at one commit: cold (parse all) and warm (cache).

python -m benchmarks.overlay_reads [--apps 1000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import line, median_ms, remote, timed
from benchmarks.generate import ENVS, app_name
from reconciler.gitrepo.blobcache import BlobCache, read_parsed
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App


def run(apps: int) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        repo = Pygit2ConfigRepo.open(str(remote(work, apps)), work / "cache")
        tip = repo.tip("main")
        assert tip is not None
        view = repo.tree(tip)
        targets = [
            (
                App(name=app_name(i), image=f"registry.example.com/team/{app_name(i)}"),
                f"overlays/{env}/{app_name(i)}/kustomization.yaml",
            )
            for i in range(apps)
            for env in ENVS
        ]

        def read_all(cache: BlobCache[ImagePin | None]) -> None:
            for app, path in targets:
                pin = read_parsed(
                    view,
                    path,
                    cache,
                    lambda data, a=app, p=path: pins.read_pin("kustomize", data, p, a),
                )
                assert pin is not None
                assert pin.digest

        cold = timed(lambda: read_all(BlobCache()), repeat=3)
        warm_cache: BlobCache[ImagePin | None] = BlobCache()
        read_all(warm_cache)
        warm = timed(lambda: read_all(warm_cache), repeat=5)
    count = len(targets)
    return [
        line(f"read {count} overlays, cold (parse each)", f"{median_ms(cold):.0f} ms"),
        line(f"read {count} overlays, warm (blob-id cache)", f"{median_ms(warm):.0f} ms"),
        line("cold / warm", f"{median_ms(cold) / median_ms(warm):.1f}x"),
    ]


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    print("\n".join(run(parser.parse_args().apps)))


if __name__ == "__main__":
    main()
