"""``python -m satcle.cli ...`` (as torchrun launches it): the `satcle` command."""

from .main import app

app()
