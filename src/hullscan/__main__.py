from hullscan.cli import app

app()
