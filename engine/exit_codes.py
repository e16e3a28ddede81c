"""Exit codes the commands share beyond 0 (done), 1 (failed) and 2 (usage or input error, one line)."""

EXIT_INTERRUPTED = 130  # the exit code after Ctrl-C (128 + SIGINT, as shells report it)
