"""The tutorial "What is torch.nn really?": its code under its own names, section by section
(``scratch``, ``models``, ``data``, ``fit``). The README maps each section to its names.
"""
