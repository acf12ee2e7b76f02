"""Perfusion maps from DSC-MRI: the series, concentration, arterial input function,
deconvolution and the maps, and a timepoint's map made from its series.
"""
