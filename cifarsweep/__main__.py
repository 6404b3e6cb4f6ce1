from cifarsweep.cli import app

app(prog_name="cifarsweep")
