"""CLI command groups. Every module here defines `register(app: typer.Typer) -> None`.

`hometwin.cli` discovers the modules, so adding a command never touches a shared file.
"""
