"""nephlab.widgets: Panel/ipywidgets components over the nephlab science core.

The components (LindbladExplorer, ProtocolDesigner, LargeDeviationExplorer, ClusterPanel)
arrive with the dashboard issue; this package exists now so that the layout and the install
mapping (``widgets/`` -> ``nephlab.widgets``) are in place from the start.
"""
