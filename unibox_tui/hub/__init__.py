"""The team hub (`unibox hub`): one process that serves every agent's app over socket.io,
runs the workspace's channels and outbox, and answers HTTP (health, and next: the chat
widget, webhooks and form pages). DESIGN.md "Team hub" and "Sync"."""
