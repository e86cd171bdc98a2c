"""Run a user's agent file in-process: loader, job context, runner, run options."""
