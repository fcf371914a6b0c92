"""Each validation rule, with a broken policy and the exact LINE:COL: message it produces."""

from __future__ import annotations

import textwrap

import pytest

from reconciler.policy import load_policy

# The smallest valid policy; cases below append to it or write their own document.
BASE = """\
version = 1

[apps.gw]
image = "registry.example.com/team/gw"

[environments.dev]
overlay = "overlays/dev"

[environments.prod]
follows = "dev"
overlay = "overlays/prod"
"""

CASES: list[tuple[str, str, list[str]]] = [
    (
        "unknown top-level key with suggestion",
        BASE.replace("version = 1\n", "version = 1\nvesion = 2\n"),
        ['2:1: unknown key "vesion" at the top level; did you mean "version"?'],
    ),
    (
        "unknown key in a table with suggestion",
        BASE + 'folows = "dev"\n',
        ['12:1: unknown key "folows" in [environments.prod]; did you mean "follows"?'],
    ),
    (
        "unknown key without a close match lists nothing",
        BASE + 'colour = "blue"\n',
        ['12:1: unknown key "colour" in [environments.prod]'],
    ),
    (
        "missing version",
        BASE.replace("version = 1\n", "# no version\n"),
        ['1:1: missing "version = 1" at the top of the file'],
    ),
    (
        "unsupported version",
        BASE.replace("version = 1", "version = 2"),
        ["1:11: version: integer 2 is not supported; this release reads version 1"],
    ),
    (
        "version of the wrong type",
        BASE.replace("version = 1", 'version = "1"'),
        ['1:11: version: string "1" is not supported; this release reads version 1'],
    ),
    (
        "follows names an unknown environment, with suggestion",
        BASE.replace('follows = "dev"', 'follows = "deev"'),
        ['10:11: environments.prod.follows: no environment "deev"; did you mean "dev"?'],
    ),
    (
        "follows names an unknown environment, listing the defined ones",
        BASE.replace('follows = "dev"', 'follows = "qa"'),
        ['10:11: environments.prod.follows: no environment "qa"; defined: "dev"'],
    ),
    (
        "an environment follows itself",
        BASE.replace('follows = "dev"', 'follows = "prod"'),
        ["10:11: environments.prod.follows: an environment cannot follow itself"],
    ),
    (
        "a cycle is printed along the promotion direction",
        BASE
        + textwrap.dedent(
            """\
            [environments.a]
            follows = "c"
            overlay = "o/a"
            [environments.b]
            follows = "a"
            overlay = "o/b"
            [environments.c]
            follows = "b"
            overlay = "o/c"
            """
        ),
        [
            "13:11: environments form a cycle: a -> b -> c -> a; one of them must be a root "
            "(no follows)"
        ],
    ),
    (
        "an environment downstream of a cycle is unreachable",
        BASE
        + textwrap.dedent(
            """\
            [environments.a]
            follows = "b"
            overlay = "o/a"
            [environments.b]
            follows = "a"
            overlay = "o/b"
            [environments.leaf]
            follows = "b"
            overlay = "o/leaf"
            """
        ),
        [
            "13:11: environments form a cycle: a -> b -> a; one of them must be a root "
            "(no follows)",
            '18:1: environment "leaf" is not reachable from a root environment: it follows the '
            'cycle through "b"',
        ],
    ),
    (
        "unknown gate with suggestion",
        BASE + 'gates = ["helth"]\n[gates.health]\nkind = "soak"\nduration = "1m"\n',
        ['12:10: environments.prod.gates: no gate "helth"; did you mean "health"?'],
    ),
    (
        "gates on a root environment",
        BASE.replace('overlay = "overlays/dev"', 'overlay = "overlays/dev"\ngates = ["s"]')
        + '[gates.s]\nkind = "soak"\nduration = "1m"\n',
        [
            "8:9: environments.dev.gates: gates check the environment promoted from, and "
            '"dev" has no follows; move the gates to the environment that follows it'
        ],
    ),
    (
        "bad duration",
        BASE + 'merge_delay = "5 minutes"\n',
        [
            '12:15: environments.prod.merge_delay: invalid duration "5 minutes": use a number '
            'and a unit (d, h, m, s, ms), largest unit first, such as "90s", "5m" or "1h30m"'
        ],
    ),
    (
        "duration given as a number",
        BASE + "[settings]\npoll_interval = 30\n",
        [
            '13:17: settings.poll_interval: expected a duration string such as "30s" or "5m", '
            "got integer 30"
        ],
    ),
    (
        "duration below the minimum",
        BASE + '[settings]\npoll_interval = "0s"\n',
        ['13:17: settings.poll_interval: "0s" is too short; the minimum is 1s'],
    ),
    (
        "URL with another scheme",
        BASE + '[gates.h]\nkind = "http"\nurl = "ftp://staging.example/healthz"\n',
        ['14:7: gates.h.url: "ftp://staging.example/healthz" is not an http:// or https:// URL'],
    ),
    (
        "URL without a host",
        BASE + '[gates.h]\nkind = "http"\nurl = "https:///healthz"\n',
        ['14:7: gates.h.url: "https:///healthz" has no host'],
    ),
    (
        "URL with an unknown placeholder",
        BASE + '[gates.h]\nkind = "http"\nurl = "https://{ap}.example/"\n',
        [
            '14:7: gates.h.url: unknown placeholder "{ap}" in "https://{ap}.example/"; '
            "allowed here: {app} and {env}"
        ],
    ),
    (
        "absolute overlay path",
        BASE.replace('"overlays/prod"', '"/srv/overlays/prod"'),
        [
            '11:11: environments.prod.overlay: "/srv/overlays/prod" is absolute; write it '
            "relative to the repo root"
        ],
    ),
    (
        "overlay path with ..",
        BASE.replace('"overlays/prod"', '"overlays/../../etc"'),
        [
            '11:11: environments.prod.overlay: "overlays/../../etc" contains ".."; paths must '
            "stay inside the repo"
        ],
    ),
    (
        "overlay path with an unknown placeholder",
        BASE.replace('"overlays/prod"', '"overlays/{env}/prod"'),
        [
            '11:11: environments.prod.overlay: unknown placeholder "{env}" in '
            '"overlays/{env}/prod"; allowed here: {app}'
        ],
    ),
    (
        "require_codeowners with mode = commit",
        BASE + 'require_codeowners = true\nmode = "commit"\n',
        [
            '13:8: environments.prod: require_codeowners needs a review, but mode = "commit" '
            'pushes without one; use mode = "pull-request"'
        ],
    ),
    (
        "require_codeowners with auto_merge",
        BASE + "require_codeowners = true\nauto_merge = true\n",
        [
            "13:14: environments.prod: require_codeowners needs a code owner to approve, but "
            "auto_merge = true would merge without one; remove auto_merge"
        ],
    ),
    (
        "duplicate table",
        BASE + '[apps.gw]\nimage = "x"\n',
        ["12:1: table [apps.gw] is defined twice (first at line 3); merge the two into one"],
    ),
    (
        "duplicate key",
        BASE + 'overlay = "again"\n',
        ["12:1: this key is already defined above; keep one of the two"],
    ),
    (
        "TOML syntax error",
        BASE + "mode = \n",
        ["12:8: TOML syntax error: invalid value"],
    ),
    (
        "unterminated string",
        BASE + 'mode = "pull-request\n',
        ["12:21: TOML syntax error: illegal character '\\n'"],
    ),
    (
        "wrong type",
        BASE + 'auto_merge = "yes"\n',
        [
            "12:14: environments.prod.auto_merge: expected a boolean (true or false), "
            'got string "yes"'
        ],
    ),
    (
        "enum with suggestion",
        BASE + 'mode = "pullrequest"\n',
        [
            '12:8: environments.prod.mode: expected one of "pull-request", "commit", got string '
            '"pullrequest"; did you mean "pull-request"?'
        ],
    ),
    (
        "missing required key",
        BASE.replace('image = "registry.example.com/team/gw"\n', 'kustomize_image = "gw"\n'),
        [
            '3:1: apps.gw: give "image" (one image) or [apps.gw.images.PART] tables (several '
            "promoted as one unit), one of them"
        ],
    ),
    (
        "an app of several images and image too",
        BASE + '[apps.gw.images.app]\nimage = "registry.example.com/team/gw"\n'
        '[apps.gw.images.migrate]\nimage = "registry.example.com/team/gw-migrations"\n',
        [
            '12:10: apps.gw: give "image" (one image) or [apps.gw.images.PART] tables (several '
            "promoted as one unit), not both"
        ],
    ),
    (
        "an app of one part",
        BASE.replace('image = "registry.example.com/team/gw"\n', "")
        + '[apps.gw.images.app]\nimage = "registry.example.com/team/gw"\n',
        ['11:10: apps.gw.images: one part; an app of one image says image = "..."'],
    ),
    (
        "two parts that match one kustomize image",
        BASE.replace('image = "registry.example.com/team/gw"\n', "")
        + '[apps.gw.images.app]\nimage = "registry.example.com/team/gw"\n'
        '[apps.gw.images.web]\nimage = "registry.example.com/other/gw"\n',
        [
            '13:1: apps.gw.images: parts "app" and "web" both match the kustomize image '
            '"gw"; set kustomize_image on one of them',
        ],
    ),
    (
        "an app of several images with app-wide helm keys",
        BASE.replace('image = "registry.example.com/team/gw"\n', 'helm = { tag = "x.tag" }\n')
        + '[apps.gw.images.app]\nimage = "registry.example.com/team/gw"\n'
        '[apps.gw.images.db]\nimage = "registry.example.com/team/db"\n',
        [
            "4:1: apps.gw.helm: an app of several images says where each is in "
            "[apps.gw.images.PART.helm]"
        ],
    ),
    (
        "a part's image with a tag",
        BASE.replace('image = "registry.example.com/team/gw"\n', "")
        + '[apps.gw.images.app]\nimage = "registry.example.com/team/gw"\n'
        '[apps.gw.images.web]\nimage = "registry.example.com/team/web:1.2"\n',
        [
            '14:9: apps.gw.images.web.image: "registry.example.com/team/web:1.2" is not an '
            "image repository; give it without a tag or digest, in lower case (such as "
            "registry.example.com/team/app)",
        ],
    ),
    (
        "image with a tag",
        BASE.replace("team/gw", "team/gw:1.2"),
        [
            '4:9: apps.gw.image: "registry.example.com/team/gw:1.2" is not an image repository; '
            "give it without a tag or digest, in lower case (such as "
            "registry.example.com/team/app)"
        ],
    ),
    (
        "image with a malformed name says why",
        BASE.replace("team/gw", "Team/gw"),
        [
            '4:9: apps.gw.image: "registry.example.com/Team/gw" is not an image repository '
            "(image reference 'registry.example.com/Team/gw': repository path component 'Team' "
            "must be lower case); give it without a tag or digest, in lower case (such as "
            "registry.example.com/team/app)"
        ],
    ),
    (
        "gate kind missing",
        BASE + '[gates.h]\nurl = "https://x/"\n',
        ['12:1: [gates.h] needs a "kind": one of "http", "soak", "window", "argocd", "checks"'],
    ),
    (
        "gate kind misspelt",
        BASE + '[gates.h]\nkind = "htp"\n',
        [
            '13:8: gates.h.kind: expected one of "http", "soak", "window", "argocd", "checks", '
            'got string "htp"; did you mean "http"?'
        ],
    ),
    (
        "window with an unknown zone points at the item",
        BASE + '[gates.w]\nkind = "window"\nallow = ["Mon-Fri 09:00-17:00 UTC", '
        '"Sat 10:00-12:00 Mars/Base"]\n',
        [
            '14:37: gates.w.allow: unknown time zone "Mars/Base"; use an IANA name such as '
            "Europe/Berlin or UTC"
        ],
    ),
    (
        "freeze range ending before it starts",
        BASE + '[gates.w]\nkind = "window"\n'
        'freeze = ["2027-01-03T00:00+05:30/2026-12-20T00:00+05:30"]\n',
        [
            '14:11: gates.w.freeze: "2027-01-03T00:00+05:30/2026-12-20T00:00+05:30" ends '
            "before it starts"
        ],
    ),
    (
        "empty window gate",
        BASE + '[gates.w]\nkind = "window"\n',
        ["12:1: gates.w: a window gate needs allow, deny or freeze"],
    ),
    (
        "empty checks gate",
        BASE + '[gates.ci]\nkind = "checks"\n',
        ['12:1: gates.ci: a checks gate needs checks = ["NAME", ...] or required = true'],
    ),
    (
        "empty check name",
        BASE + '[gates.ci]\nkind = "checks"\nchecks = ["e2e", " "]\n',
        ["14:18: gates.ci.checks: expected a check name or pattern, got an empty string"],
    ),
    (
        "checks on the source revision without a registry",
        BASE + '[gates.ci]\nkind = "checks"\ncommit = "source"\nchecks = ["build"]\n',
        [
            '14:10: gates.ci.commit: "source" reads the revision from the image\'s labels, and '
            "the policy has no [registry] to read them from; add one"
        ],
    ),
    (
        "required checks of the source repository",
        BASE.replace("version = 1\n", 'version = 1\n[registry]\nkind = "oci"\n')
        + '[gates.ci]\nkind = "checks"\ncommit = "source"\nrequired = true\n',
        [
            "17:12: gates.ci.required: the branch rules read are the config repo's, not the "
            'source repository\'s; with commit = "source" name the checks instead'
        ],
    ),
    (
        "status out of range",
        BASE + '[gates.h]\nkind = "http"\nurl = "https://x/"\nexpect_status = [200, 99]\n',
        [
            "15:17: gates.h.expect_status: expected an HTTP status (100-599) or a list of them, "
            "got integer 99"
        ],
    ),
    (
        "bad regular expression",
        BASE + '[gates.h]\nkind = "http"\nurl = "https://x/"\nexpect_body = "ok("\n',
        [
            '15:15: gates.h.expect_body: invalid regular expression "ok(": missing ), '
            "unterminated subpattern at position 2"
        ],
    ),
    (
        "live source for an unknown environment",
        BASE + '[live.prd]\nkind = "http"\nurl = "http://version.test/"\n',
        ['12:1: [live.prd] names no environment "prd"; did you mean "prod"?'],
    ),
    (
        "argocd gate without an argocd source for the environment promoted from",
        BASE + 'gates = ["synced"]\n[gates.synced]\nkind = "argocd"\n',
        [
            '12:10: environments.prod.gates: "synced" reads Argo CD, but [live.dev] is not an '
            "argocd source; add one for the environment promoted from"
        ],
    ),
    (
        "argocd source with two tokens",
        BASE + '[live.dev]\nkind = "argocd"\nserver = "https://argocd.test"\n'
        'token_file = "/t"\ntoken_env = "T"\n',
        ["12:1: [live.dev]: give token_file or token_env, not both"],
    ),
    (
        "kubernetes workload of an unknown kind",
        BASE + '[live.dev]\nkind = "kubernetes"\nnamespace = "dev"\nworkload = "pod/{app}"\n',
        [
            '15:12: live.dev.workload: "pod/{app}" is not KIND/NAME with KIND deployment, '
            'statefulset or daemonset, such as "deployment/{app}"'
        ],
    ),
    (
        "registry-tag live source without a registry",
        BASE + '[live.prod]\nkind = "registry-tag"\ntag = "production"\n',
        [
            "12:1: [live.prod] reads a registry tag, but the policy has no [registry]; add one, "
            'such as [registry] kind = "oci"'
        ],
    ),
    (
        "invalid name",
        BASE.replace("[apps.gw]", '[apps."gw/x"]'),
        [
            '3:1: "gw/x" is not a valid name: use letters, digits, ".", "_" and "-", starting '
            "and ending with a letter or digit, at most 63 characters"
        ],
    ),
    (
        "no apps",
        'version = 1\n[environments.dev]\noverlay = "o"\n',
        ['1:1: no apps: add at least one [apps.NAME] with an "image"'],
    ),
    (
        "helm single key combined with the split keys",
        BASE.replace(
            'image = "registry.example.com/team/gw"\n',
            'image = "registry.example.com/team/gw"\nhelm = { image = "img", tag = "t" }\n',
        ),
        [
            "5:18: apps.gw.helm: image is the single-key form; remove repository, tag, digest "
            "and registry, or remove image"
        ],
    ),
    (
        "helm single key with another layout",
        BASE.replace(
            'image = "registry.example.com/team/gw"\n',
            'image = "registry.example.com/team/gw"\nhelm = { image = "img", layout = "tag" }\n',
        ),
        [
            '5:34: apps.gw.helm: layout "tag" reads repository and tag keys, but image names '
            'one key holding repo:tag@digest; remove image, or set layout = "image"'
        ],
    ),
    (
        "helm image layout without its key",
        BASE.replace(
            'image = "registry.example.com/team/gw"\n',
            'image = "registry.example.com/team/gw"\nhelm = { layout = "image" }\n',
        ),
        [
            '5:19: apps.gw.helm: layout "image" needs image, the key holding repo:tag@digest '
            '(such as image = "image")'
        ],
    ),
    (
        "app limited to an unknown environment",
        BASE.replace(
            'image = "registry.example.com/team/gw"\n',
            'image = "registry.example.com/team/gw"\nenvironments = ["dev", "prd"]\n',
        ),
        ['5:24: apps.gw.environments: no environment "prd"; did you mean "prod"?'],
    ),
    (
        "merge_delay on a root",
        BASE.replace('overlay = "overlays/dev"', 'overlay = "overlays/dev"\nmerge_delay = "1m"'),
        [
            '8:15: environments.dev.merge_delay: "dev" has no follows, so nothing is merged into '
            "it; remove merge_delay"
        ],
    ),
    (
        "http gate timeout over the cap",
        BASE + '[gates.h]\nkind = "http"\nurl = "https://dev.example/healthz"\ntimeout = "1m"\n',
        [
            '15:11: gates.h.timeout: "1m" is longer than the 30s a probe may take; set it to 30s '
            "or less (an endpoint slower than that is better fixed, or made to answer from a "
            "cached check)"
        ],
    ),
    (
        "http gate timeout at the cap is fine, 30.001s is not",
        BASE
        + '[gates.a]\nkind = "http"\nurl = "https://dev.example/a"\ntimeout = "30s"\n'
        + '[gates.b]\nkind = "http"\nurl = "https://dev.example/b"\ntimeout = "30s1ms"\n',
        [
            '19:11: gates.b.timeout: "30s1ms" is longer than the 30s a probe may take; set it '
            "to 30s or less (an endpoint slower than that is better fixed, or made to answer "
            "from a cached check)"
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(text: str, expected: list[str]) -> None:
    result = load_policy(text.encode(), "promotions.toml")
    shown = [f"{d.line}:{d.column}: {d.message}" for d in result.diagnostics]
    assert shown == expected
    assert result.policy is None


def test_base_is_valid() -> None:
    result = load_policy(BASE.encode())
    assert result.diagnostics == ()
    assert result.policy is not None
    assert result.policy.edges() == [("dev", "prod")]


def test_every_mistake_is_reported_at_once() -> None:
    text = BASE.replace('follows = "dev"', 'follows = "deev"') + 'mode = "x"\nmerge_delay = "?"\n'
    lines = [d.line for d in load_policy(text.encode()).diagnostics]
    assert lines == [10, 12, 13]


def test_diagnostic_string_form() -> None:
    (diagnostic,) = load_policy((BASE + "bogus = 1\n").encode(), "conf/promotions.toml").diagnostics
    assert (
        str(diagnostic) == 'conf/promotions.toml:12:1: unknown key "bogus" in [environments.prod]'
    )


def test_file_over_one_mebibyte_is_refused() -> None:
    text = BASE + "#" * (1024 * 1024) + "\n"
    (diagnostic,) = load_policy(text.encode()).diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.rule) == (1, 1, "too-large")
    assert "at most 1 MiB" in diagnostic.message


def test_invalid_utf8_points_at_the_byte() -> None:
    (diagnostic,) = load_policy(b"version = 1\n# caf\xe9\n").diagnostics
    assert (diagnostic.line, diagnostic.column) == (2, 6)
    assert "not valid UTF-8 (byte 0xe9)" in diagnostic.message


def test_bom_and_crlf_are_accepted() -> None:
    text = "\ufeff" + BASE.replace("\n", "\r\n")
    result = load_policy(text.encode())
    assert result.ok, result.diagnostics


def test_a_key_with_a_newline_stays_on_one_line() -> None:
    text = BASE.replace("version = 1\n", 'version = 1\n"bad\\nkey" = 1\n')
    (diagnostic,) = load_policy(text.encode()).diagnostics
    assert "\n" not in str(diagnostic)
    assert str(diagnostic).startswith(
        'promotions.toml:2:1: unknown key "bad\\nkey" at the top level'
    )
