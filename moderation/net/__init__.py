"""Outbound HTTP: the one hardened fetcher (`fetcher`) and the guarded connections under it
(`guarded`): no private addresses, one deadline, size limits."""
