"""The command line: a thin layer over functions that tests call directly."""
