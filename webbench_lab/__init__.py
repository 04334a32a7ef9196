"""webbench-lab: rebuild, provision and benchmark the two-host Go-vs-Python web-server lab."""

__version__ = "0.1.0"
