"""The config repo's pygit2 (libgit2) adapter: the one package of the project that imports pygit2.

localpush.py writes a remote on this machine crash-safe, reflock.py clears ref locks a killed
daemon left, cacherepair.py sets a damaged cache clone aside; only this package uses them.
"""
