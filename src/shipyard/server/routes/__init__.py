"""One module of routes per capability; ``create_app`` includes them all."""
