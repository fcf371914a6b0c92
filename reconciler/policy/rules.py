"""Rules that span several keys: references, the environment graph, unsafe combinations."""

from __future__ import annotations

from reconciler.errors import PolicyError
from reconciler.imagerefs import parse_image
from reconciler.policy.diagnostics import Problems, suggest
from reconciler.policy.model import (
    MAX_GATE_TIMEOUT,
    App,
    ArgoCDGate,
    ArgoCDLive,
    ChecksGate,
    HelmKeys,
    HttpGate,
    Policy,
    RegistryTagLive,
    WindowGate,
)
from reconciler.policy.values import format_duration


def check(policy: Policy, problems: Problems) -> None:
    """Record every cross-key problem of ``policy`` (decoded, possibly partially)."""
    _check_apps(policy, problems)
    _check_environment_graph(policy, problems)
    _check_environments(policy, problems)
    _check_gates(policy, problems)
    _check_live(policy, problems)


def _check_apps(policy: Policy, problems: Problems) -> None:
    envs = policy.environments
    for name, app in policy.apps.items():
        here = ("apps", name)
        _image_rules(problems, here, name, app)
        for index, env in enumerate(app.environments or ()):
            if env not in envs and not problems.is_bad(("environments",)):
                problems.add(
                    (*here, "environments", index),
                    f'apps.{name}.environments: no environment "{env}"{suggest(env, envs)}',
                    "unknown-reference",
                )
        _helm_rules(problems, (*here, "helm"), name, app.helm)
    if not policy.apps and not problems.touches(("apps",)):
        problems.add(("apps",), 'no apps: add at least one [apps.NAME] with an "image"', "empty")


def _image_rules(problems: Problems, here: tuple[str, ...], name: str, app: App) -> None:
    """`image` or `images` (of at least two parts), each a repository the grammar accepts."""
    if problems.is_bad((*here, "image")) or problems.is_bad((*here, "images")):
        return
    if bool(app.image) == bool(app.images):
        both = "not both" if app.image else "one of them"
        problems.add(
            (*here, "images") if app.images else here,
            f'apps.{name}: give "image" (one image) or [apps.{name}.images.PART] tables '
            f"(several promoted as one unit), {both}",
            "invalid-value" if app.image else "missing-key",
            anchor="key",
        )
        return
    if len(app.images) == 1:
        problems.add(
            (*here, "images"),
            f'apps.{name}.images: one part; an app of one image says image = "..."',
            "invalid-value",
            anchor="key",
        )
    if app.images and app.helm != HelmKeys():
        problems.add(
            (*here, "helm"),
            f"apps.{name}.helm: an app of several images says where each is in "
            f"[apps.{name}.images.PART.helm]",
            "invalid-value",
            anchor="key",
        )
    if app.images and app.kustomize_image is not None:
        problems.add(
            (*here, "kustomize_image"),
            f"apps.{name}.kustomize_image: an app of several images names each in "
            f"[apps.{name}.images.PART] kustomize_image",
            "invalid-value",
        )
    images = [((*here, "image"), f"apps.{name}.image", app.image)] if app.image else []
    images += [
        ((*here, "images", part, "image"), f"apps.{name}.images.{part}.image", p.image)
        for part, p in app.images.items()
    ]
    for where, shown, image in images:
        problem = _repository_problem(image)
        if problem is not None:
            problems.add(
                where,
                f'{shown}: "{image}" is not an image repository{problem}; give '
                "it without a tag or digest, in lower case (such as "
                "registry.example.com/team/app)",
                "invalid-value",
            )
    names: dict[str, str] = {}
    for part_name, part in app.parts():
        if part_name:
            _helm_rules(problems, (*here, "images", part_name, "helm"), name, part.helm)
        seen = names.setdefault(part.image_name, part_name)
        if seen != part_name:
            problems.add(
                (*here, "images", part_name),
                f'apps.{name}.images: parts "{seen}" and "{part_name}" both match the '
                f'kustomize image "{part.image_name}"; set kustomize_image on one of them',
                "invalid-value",
                anchor="key",
            )


def _helm_rules(problems: Problems, here: tuple[str, ...], name: str, helm: HelmKeys) -> None:
    """The single-key form names its key and nothing else; the other layouts do not use it."""
    defaults = type(helm)()
    if helm.image is not None and (
        helm.repository != defaults.repository
        or helm.tag != defaults.tag
        or helm.digest != defaults.digest
        or helm.registry != defaults.registry
    ):
        problems.add(
            (*here, "image"),
            f"apps.{name}.helm: image is the single-key form; remove repository, tag, digest "
            "and registry, or remove image",
            "conflict",
        )
    elif helm.image is not None and helm.layout not in (None, "image"):
        problems.add(
            (*here, "layout"),
            f'apps.{name}.helm: layout "{helm.layout}" reads repository and tag keys, but image '
            'names one key holding repo:tag@digest; remove image, or set layout = "image"',
            "conflict",
        )
    elif helm.image is None and helm.layout == "image":
        problems.add(
            (*here, "layout"),
            f'apps.{name}.helm: layout "image" needs image, the key holding repo:tag@digest '
            '(such as image = "image")',
            "missing-key",
        )


def _repository_problem(image: str) -> str | None:
    """None for a repository the image grammar accepts; else what to add to the message."""
    try:
        name = parse_image(image)
    except PolicyError as exc:
        return f" ({exc})"
    return "" if name.tag is not None or name.digest is not None else None


def _check_environment_graph(policy: Policy, problems: Problems) -> None:
    envs = policy.environments
    if not envs:
        if not problems.touches(("environments",)):
            problems.add(
                ("environments",),
                'no environments: add at least one [environments.NAME] with an "overlay"',
                "empty",
            )
        return
    for name, env in envs.items():
        if env.follows is None or problems.is_bad(("environments", name, "follows")):
            continue
        if env.follows == name:
            problems.add(
                ("environments", name, "follows"),
                f"environments.{name}.follows: an environment cannot follow itself",
                "cycle",
            )
        elif env.follows not in envs:
            problems.add(
                ("environments", name, "follows"),
                f'environments.{name}.follows: no environment "{env.follows}"'
                f"{suggest(env.follows, [n for n in envs if n != name])}",
                "unknown-reference",
            )
    # Each environment follows at most one other, so walking `follows` from any node either
    # reaches a root or enters a cycle; report each cycle once, at its first member in the file.
    reported: set[str] = set()
    for start in envs:
        chain: list[str] = []
        node: str | None = start
        while node is not None and node in envs and node not in chain and node not in reported:
            chain.append(node)
            nxt = envs[node].follows
            node = nxt if nxt != node else None
        if node is None or node not in chain:
            continue
        cycle = chain[chain.index(node) :]
        reported.update(cycle)
        if len(cycle) == 1:
            continue  # self-follow is reported above
        # `cycle` runs against the promotion direction; show it along it, from the member
        # written first in the file.
        order = list(envs)
        first = min(cycle, key=order.index)
        along = list(reversed(cycle))
        along = along[along.index(first) :] + along[: along.index(first)]
        shown = " -> ".join([*along, first])
        problems.add(
            ("environments", first, "follows"),
            f"environments form a cycle: {shown}; one of them must be a root (no follows)",
            "cycle",
        )
    for name in envs:
        node = name
        seen: list[str] = []
        while node in envs and envs[node].follows and node not in seen:
            seen.append(node)
            node = envs[node].follows or ""
        if name not in reported and node in reported:
            problems.add(
                ("environments", name),
                f'environment "{name}" is not reachable from a root environment: it follows the '
                f'cycle through "{node}"',
                "unreachable",
                anchor="key",
            )


def _check_environments(policy: Policy, problems: Problems) -> None:
    for name, env in policy.environments.items():
        here = ("environments", name)
        if env.require_codeowners and env.mode == "commit":
            problems.add(
                (*here, "mode"),
                f'environments.{name}: require_codeowners needs a review, but mode = "commit" '
                'pushes without one; use mode = "pull-request"',
                "codeowners-conflict",
            )
        if env.require_codeowners and env.auto_merge:
            problems.add(
                (*here, "auto_merge"),
                f"environments.{name}: require_codeowners needs a code owner to approve, but "
                "auto_merge = true would merge without one; remove auto_merge",
                "codeowners-conflict",
            )
        for index, gate in enumerate(env.gates):
            if gate not in policy.gates and not problems.is_bad(("gates",)):
                problems.add(
                    (*here, "gates", index),
                    f'environments.{name}.gates: no gate "{gate}"{suggest(gate, policy.gates)}',
                    "unknown-reference",
                )
        for index, gate in enumerate(env.gates):
            source = policy.live.get(env.follows or "")
            if (
                isinstance(policy.gates.get(gate), ArgoCDGate)
                and env.follows
                and (not isinstance(source, ArgoCDLive))
            ):
                problems.add(
                    (*here, "gates", index),
                    f'environments.{name}.gates: "{gate}" reads Argo CD, but [live.{env.follows}] '
                    "is not an argocd source; add one for the environment promoted from",
                    "missing-live-source",
                )
        if env.gates and env.follows is None and not problems.is_bad((*here, "follows")):
            problems.add(
                (*here, "gates"),
                f"environments.{name}.gates: gates check the environment promoted from, and "
                f'"{name}" has no follows; move the gates to the environment that follows it',
                "gates-without-source",
            )
        if env.follows is None and env.merge_delay and not problems.is_bad((*here, "follows")):
            problems.add(
                (*here, "merge_delay"),
                f'environments.{name}.merge_delay: "{name}" has no follows, so nothing is '
                "merged into it; remove merge_delay",
                "no-effect",
            )


def _check_gates(policy: Policy, problems: Problems) -> None:
    for name, gate in policy.gates.items():
        here = ("gates", name)
        if isinstance(gate, HttpGate) and not problems.is_bad((*here, "headers_from_env")):
            for header, variable in gate.headers_from_env.items():
                if not variable.replace("_", "").isalnum() or variable[0].isdigit():
                    problems.add(
                        (*here, "headers_from_env", header),
                        f'gates.{name}.headers_from_env: "{variable}" is not an environment '
                        "variable name",
                        "invalid-value",
                    )
        if (
            isinstance(gate, HttpGate)
            and gate.timeout > MAX_GATE_TIMEOUT
            and not problems.is_bad((*here, "timeout"))
        ):
            cap = format_duration(MAX_GATE_TIMEOUT)
            problems.add(
                (*here, "timeout"),
                f'gates.{name}.timeout: "{format_duration(gate.timeout)}" is longer than the '
                f"{cap} a probe may take; set it to {cap} or less (an endpoint slower than that "
                "is better fixed, or made to answer from a cached check)",
                "too-long",
            )
        if isinstance(gate, HttpGate):
            both = set(gate.headers) & (set(gate.headers_from_env) | set(gate.headers_from_file))
            both |= set(gate.headers_from_env) & set(gate.headers_from_file)
            for header in sorted(both):
                problems.add(
                    here,
                    f'gates.{name}: header "{header}" is given more than once',
                    "conflict",
                    anchor="key",
                )
        if (
            isinstance(gate, WindowGate)
            and not (gate.allow or gate.deny or gate.freeze)
            and not problems.touches(here)
        ):
            problems.add(
                here,
                f"gates.{name}: a window gate needs allow, deny or freeze",
                "empty",
                anchor="key",
            )
        if (
            isinstance(gate, ChecksGate)
            and not (gate.checks or gate.required)
            and not problems.touches(here)
        ):
            problems.add(
                here,
                f'gates.{name}: a checks gate needs checks = ["NAME", ...] or required = true',
                "empty",
                anchor="key",
            )
        if isinstance(gate, ChecksGate) and gate.commit == "source":
            if policy.registry is None and not problems.touches(here):
                problems.add(
                    (*here, "commit"),
                    f'gates.{name}.commit: "source" reads the revision from the image\'s labels, '
                    "and the policy has no [registry] to read them from; add one",
                    "missing-registry",
                )
            if gate.required and not problems.touches((*here, "required")):
                problems.add(
                    (*here, "required"),
                    f"gates.{name}.required: the branch rules read are the config repo's, not "
                    'the source repository\'s; with commit = "source" name the checks instead',
                    "conflict",
                )


def _check_live(policy: Policy, problems: Problems) -> None:
    envs = policy.environments
    for name, source in policy.live.items():
        if isinstance(source, ArgoCDLive) and source.token_file and source.token_env:
            problems.add(
                ("live", name),
                f"[live.{name}]: give token_file or token_env, not both",
                "conflict",
                anchor="key",
            )
        if isinstance(source, RegistryTagLive) and policy.registry is None:
            problems.add(
                ("live", name),
                f"[live.{name}] reads a registry tag, but the policy has no [registry]; add "
                'one, such as [registry] kind = "oci"',
                "missing-registry",
                anchor="key",
            )
    for name in policy.live:
        if name not in envs and not problems.is_bad(("environments",)):
            problems.add(
                ("live", name),
                f'[live.{name}] names no environment "{name}"{suggest(name, envs)}',
                "unknown-reference",
                anchor="key",
            )
