"""The command lines: `satcle` (`main`: embed, models, eval, train, import, plot) and the
reading half of `satcle-grid` (`grid`: info, verify, query, sql, similar, serve; the
builder's `build_grid.cli` adds build and estimate). `failure` is how every command
fails: one line and exit 2 for a user error, a traceback and exit 1 for a bug."""
