"""The `webbench-lab` command: one module per command, each registering its own arguments."""
