"""Training, inference and measurement machinery shared by the scripts."""
