"""Python client for the recfuse recommendation server.

    >>> import recfuse
    >>> with recfuse.Client("ipc:///tmp/recfuse.sock") as c:
    ...     for it in c.retrieve(user_id="196", k=10).items:
    ...         print(it.item_id, it.score, it.title)

`recfuse.aio.Client` is the asyncio client with the same methods. Every failed call raises a `recfuse.RpcError`
subclass (one per status code); wrong arguments raise TypeError / ValueError before anything
is sent.
"""
from ._requests import (METHODS, SCHEMES, Cancelled, Code, DataLoss, DeadlineExceeded, FailedPrecondition,
                        Internal, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, RpcError,
                        Unauthenticated, Unavailable, Unimplemented)
from .client import Client
from .v1 import admin_pb2, envelope_pb2, recommender_pb2

__all__ = ["Client", "Code", "RpcError", "Cancelled", "InvalidArgument", "DeadlineExceeded", "NotFound",
           "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Unimplemented", "Internal", "Unavailable",
           "DataLoss", "Unauthenticated", "METHODS", "SCHEMES", "admin_pb2", "envelope_pb2", "recommender_pb2"]
__version__ = "0.2.0"
