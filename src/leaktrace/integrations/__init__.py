"""leaktrace inside other tools: the pytest plugin and the IPython magic."""
