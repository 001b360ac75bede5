"""The command line: thin commands over rnncli.api. Only this package imports typer/rich."""
