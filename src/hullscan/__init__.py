"""hullscan: scans container images the moment they are pushed."""

__version__ = "0.1.0"
