"""The numbers of one analysis: geometry, plane, registration, midline, asymmetry, segments, measures.

Numpy, SciPy and SimpleITK only; nothing here reads or writes a file.
"""
