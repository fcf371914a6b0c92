#!/bin/sh
# The container image's install steps. The Dockerfile RUNs this file and
# scripts/check-image-install runs it too, so CI proves the very commands the image build runs.
#
#   install-image.sh deps VENV LOCK     a new virtual environment at VENV holding exactly the
#                                       wheels of the hashed lock file LOCK
#   install-image.sh project VENV SRC   the project from the source tree SRC, without touching
#                                       the dependencies, then a consistency check
#
# PYTHON picks the interpreter for the new environment (default: python3).
set -eu

usage() {
  echo "usage: $0 deps VENV LOCK | $0 project VENV SRC" >&2
  exit 2
}
[ $# -eq 3 ] || usage
step=$1 venv=$2 from=$3

# Only the public index and the lock's hashes decide what is installed, never a machine's
# pip.conf (extra indexes, constraints).
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1

case $step in
  deps)
    [ ! -e "$venv" ] || { echo "install-image.sh: $venv exists; it must be new" >&2; exit 1; }
    "${PYTHON:-python3}" -m venv "$venv"
    # Wheels only: no sdist's build script runs and the image needs no compiler. Dependencies
    # are resolved (not --no-deps), so a lock missing one fails here instead of at run time.
    "$venv/bin/python" -m pip install --progress-bar off --require-hashes --only-binary :all: -r "$from"
    ;;
  project)
    "$venv/bin/python" -m pip install --progress-bar off --no-deps "$from"
    # The project's declared dependencies must all be met by what the lock installed.
    "$venv/bin/python" -m pip check
    ;;
  *)
    usage
    ;;
esac
