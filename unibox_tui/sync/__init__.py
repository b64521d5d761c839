"""The client side of the team hub: the local cache, pulls, and commands as mutations."""
