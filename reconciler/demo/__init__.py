"""`reconciler demo`: the whole promotion flow on embedded defaults, on this machine only."""
