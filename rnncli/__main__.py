from rnncli.cli.main import run

run()
