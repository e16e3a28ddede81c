"""Weight files and training states: what a file is, strict loading, atomic saving."""
