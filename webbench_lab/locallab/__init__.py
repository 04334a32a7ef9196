"""The local lab: two fresh Debian 12 hosts in namespaces on this machine, reached over real SSH."""
