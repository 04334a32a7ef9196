"""Programs the lab copies to its hosts (standard library only)."""
