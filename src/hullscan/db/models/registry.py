"""Tables of the registry part."""
