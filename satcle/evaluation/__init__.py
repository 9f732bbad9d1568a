"""Evaluation layer: the papers' downstream benchmark, offline, and embedding maps.

Modules, one job each: `geography` (offline sampling, places, continents),
`tasks` (prepared, cached task tables), `encoders` (the compared encoders by
name), `probe` (MLP and linear probes over seeds), `transfer` (continent
splits), `benchmark` (the run), `report` (markdown + JSON), `maps` (PNGs).
"""
