"""`reconciler doctor`'s checks of what rendering the overlays runs: each Helm environment's
values (a unit's part files after them) through the app's chart by the real engine, and each
Kustomize overlay taking in the folders its units' parts are pinned in."""

from __future__ import annotations

from reconciler import partfiles
from reconciler.errors import ReconcilerError
from reconciler.imagerefs import same_repository, split_reference
from reconciler.observing import Observation
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import Policy
from reconciler.policy.values import fill
from reconciler.verbs.checklist import Check
from reconciler.wiring import Wired


def charts(policy: Policy, observation: Observation, wired: Wired) -> list[Check]:
    """Each Helm environment's values rendered with the app's chart by the real engine: the
    image that would run, and whether it is the one the values pin."""
    from reconciler import charts  # noqa: PLC0415 - doctor's alone

    wanted = [
        (app, part_name, part, env)
        for env in policy.ordered()
        if env.format == "helm"
        for app in policy.apps_in(env.name)
        for part_name, part in app.parts()  # each image of an app of several
        if part.helm.chart
    ]
    if not wanted:
        return []
    helm = charts.helm_binary()
    if helm is None:
        return [
            Check(
                "Helm charts render the pinned images",
                ok=False,
                detail="no helm on PATH (or RECONCILER_HELM): the charts were not rendered",
                fix="install helm 3 to let doctor render the charts the policy names",
                required=False,
            )
        ]
    snap = observation.snapshot
    view = wired.repo.tree(snap.base_commit)
    checks = []
    for app, part_name, part, env in wanted:
        chart = fill(str(part.helm.chart), app=app.name)
        image = f"{app.name}'s image" + (f" {part_name}" if part_name else "")
        name = f"{chart} renders {image} in {env.name}"
        overlay = snap.overlays.get((app.name, env.name))
        # The environment's values file, then a unit's part files, as `helm -f` takes them.
        files: tuple[str, ...] = ()
        if overlay is not None and not overlay.error:
            files = tuple(dict.fromkeys((overlay.path, *overlay.files)))
        read = [data for data in (view.read(path) for path in files) if data is not None]
        values = read if files and len(read) == len(files) else None
        pin = overlay.pin if overlay is not None else None
        if pin is not None and part_name:
            pin = dict(pin.parts).get(part_name)
        if overlay is None or pin is None or values is None:
            checks.append(Check(name, ok=False, detail="the values file pins no image"))
            continue
        try:
            ran = charts.rendered_images(helm, view, chart, values)
        except ValueError as failed:
            checks.append(Check(name, ok=False, detail=str(failed)))
            continue
        pinned = pin.reference()
        runs = [image for image in ran if _names(image, pin)]
        ok = any(_runs(image, pin) for image in runs)
        shown = ", ".join(runs or ran) or "no workload"
        checks.append(
            Check(
                name,
                ok=ok,
                detail=f"runs {shown}" + ("" if ok else f"; the values pin {pinned}"),
                fix="set [apps.NAME.helm] layout to how the chart renders the image "
                "(docs/policy.md, Helm layouts)",
            )
        )
    return checks


def part_folders(policy: Policy, observation: Observation, wired: Wired) -> list[Check]:
    """Each Kustomize overlay takes in the folders its units' parts are pinned in: else a
    render runs the part's base image, whatever the daemon pins."""
    snap = observation.snapshot
    view = wired.repo.tree(snap.base_commit)

    includes = partfiles.includes_in(view.names, view.read)

    checks = []
    for (app_name, env_name), state in sorted(snap.overlays.items()):
        env = policy.environments.get(env_name)
        if env is None or env.format != "kustomize" or not state.part_files or state.error:
            continue
        folder = state.path.rpartition("/")[0]
        parts = [path for path in state.files if path != state.path]
        missed = partfiles.unreached(state.path, parts, includes)
        shown = ", ".join(p.rpartition("/")[0] for p in parts)
        checks.append(
            Check(
                f"{folder} takes in {app_name}'s part folders ({shown})",
                not missed,
                f"not in its resources: {', '.join(p.rpartition('/')[0] for p in missed)}"
                if missed
                else "a render runs every part's pin",
                f"list each folder under resources: in {state.path}",
            )
        )
    return checks


def _names(image: str, pin: ImagePin) -> bool:
    return same_repository(image, pin.repository)


def _runs(image: str, pin: ImagePin) -> bool:
    """Whether ``image`` is the pinned image: same repository, and the pinned digest."""
    try:
        name, _, digest = split_reference(image)
    except ReconcilerError:
        return False
    return same_repository(name, pin.repository) and (digest == pin.digest if pin.digest else True)
