"""`reconciler set-image`: a drop-in for `kustomize edit set image` with minimal diffs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.errors import PolicyError
from reconciler.model import KUSTOMIZATION_FILES
from reconciler.overlays import kustomize
from reconciler.verbs import EXIT_OK, display_path, fail, unified_diff
from reconciler.worktree import write_atomic


def set_image(args: argparse.Namespace) -> int:
    """Pin images in the kustomization of ``--dir``; the file is left alone on any error,
    and with ``--dry-run`` (the diff is printed instead)."""
    if not args.images:
        return fail("set-image", "no image specified")
    folder = Path(args.dir)
    found = [folder / name for name in KUSTOMIZATION_FILES if (folder / name).is_file()]
    if not found:
        shown = display_path(folder)
        return fail("set-image", f"missing kustomization file 'kustomization.yaml' in {shown}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        shown = display_path(folder)
        return fail("set-image", f"found multiple kustomization files in {shown}: {names}")
    path = found[0]
    try:
        updates = [kustomize.parse_argument(arg) for arg in args.images]
        data = path.read_bytes()
        edited = kustomize.set_images(data, display_path(path), updates)
    except PolicyError as exc:
        return fail("set-image", str(exc))
    except OSError as exc:
        return fail("set-image", f"cannot read {display_path(path)}: {exc.strerror}")
    if args.dry_run:
        sys.stdout.write(unified_diff(data, edited, display_path(path)))
        said = "no change" if edited == data else "dry run: nothing written"
        print(f"{display_path(path)}: {said}")
    elif edited != data:
        write_atomic(path, edited)
    return EXIT_OK
