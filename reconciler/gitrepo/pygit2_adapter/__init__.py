"""The config repo's pygit2 (libgit2) adapter: the one package of the project that imports pygit2.

The rest of the daemon uses the package alone: ``Pygit2ConfigRepo`` (configrepo.py) and
``create_repository`` (commits.py, for demos and fixtures). Inside, each module does one job:
callbacks.py (credentials, host checks, push lease), clone.py (the cache's clone: clone,
fetch, deepen, repair), refs.py, trees.py, treeview.py, commits.py, histories.py, merge.py
(one file's three-way merge), writer.py (commits and pushes), localpush.py (crash-safe
pushes to a remote on this machine), reflock.py (ref locks a killed daemon left) and
cacherepair.py (a damaged cache clone found and set aside).
"""

from reconciler.gitrepo.pygit2_adapter.commits import create_repository
from reconciler.gitrepo.pygit2_adapter.configrepo import Pygit2ConfigRepo

__all__ = ["Pygit2ConfigRepo", "create_repository"]
