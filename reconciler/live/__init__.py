"""Sources of what an environment really runs (the live digest), behind one port."""
