"""Phantom patients with a known truth: the template-based family and the analytic family
(independent of each other), and DSC series made from them.
"""
