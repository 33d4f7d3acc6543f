"""The registry's own API (DiscoveryService), served by every MeshServer.

Reads come from the registry; ``Drain`` asks the instance that receives it to drain
itself (meshctl looks the instance's address up and calls it there).
"""
