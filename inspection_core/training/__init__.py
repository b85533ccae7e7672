"""The top of the core: fit → calibrate → validate for the CLI, the GUI's training workspace and the demo."""
