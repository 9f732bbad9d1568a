"""Embeddings where the user's data already is: DataFrames in, DataFrames out.

`add_embeddings(df)` (`dataframe`) for pandas and GeoPandas frames of points or
polygons (`areas`: the mean of the cells a polygon covers); `source` chooses
between a grid and the live encoder, for it and for ``satcle embed``.
"""

from .dataframe import add_embeddings

__all__ = ["add_embeddings"]
