"""Every benchmark in one run: `python -m benchmarks.run_all [--apps 1000]`.

Figures go to docs/benchmarks.md by hand, with the date and the machine.
"""

from __future__ import annotations

import argparse
import platform

from benchmarks import overlay_reads, promotion_write


def main() -> None:
    """Run each benchmark and print its lines under a heading."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    apps = parser.parse_args().apps
    print(f"# {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    for title, lines in (
        ("overlay reads", overlay_reads.run(apps)),
        ("promotion write", promotion_write.run(apps, repeat=10)),
    ):
        print(f"\n## {title}")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
