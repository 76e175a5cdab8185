"""Named tasks: every capability as a typed, JSON-serialisable parameter spec plus a function."""
