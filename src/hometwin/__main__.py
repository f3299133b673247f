from hometwin.cli import app

app(prog_name="hometwin")
