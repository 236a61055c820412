"""The composition root: the `parley` command and the server that wires the channels to the agent core."""
