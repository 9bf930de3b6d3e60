"""The ``ml-pipeline`` program: the parser and each command, in-process runs, the run
summary, the lock and recovery every command starts with."""
