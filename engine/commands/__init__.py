"""The command lines: flags -> a config -> one call into the floors below; errors as one line."""
