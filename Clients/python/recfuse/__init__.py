"""Python client for the recfuse recommendation server.

    >>> import recfuse
    >>> with recfuse.Client("ipc:///tmp/recfuse.sock") as c:
    ...     for it in c.retrieve(user_id="196", k=10).items:
    ...         print(it.item_id, it.score, it.title)
"""
from .client import Client, Code, DeadlineExceeded, RpcError, METHODS
from .v1 import admin_pb2, envelope_pb2, recommender_pb2

__all__ = ["Client", "Code", "RpcError", "DeadlineExceeded", "METHODS", "admin_pb2", "envelope_pb2", "recommender_pb2"]
__version__ = "0.1.0"
