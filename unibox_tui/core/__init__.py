"""The workspace: models, database, commands and queries. Imports no Textual (tested)."""
