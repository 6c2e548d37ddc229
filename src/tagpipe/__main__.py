from tagpipe.cli import app

app()
