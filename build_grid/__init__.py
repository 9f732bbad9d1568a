"""The grid builder: evaluates a location encoder at every H3 cell centre."""
