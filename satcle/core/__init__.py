"""The modules every layer uses: errors, coordinates, paths, atomic writes, checksums, threads, optional imports."""
