"""Tables of the pipelines part."""
