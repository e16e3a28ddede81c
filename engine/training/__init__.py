"""Training: the one loop, each model's task and config, recipes, schedules, run folders and logs."""
