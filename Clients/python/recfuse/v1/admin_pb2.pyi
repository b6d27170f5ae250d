from recfuse.v1 import recommender_pb2 as _recommender_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeleteItemRequest(_message.Message):
    __slots__ = ["event_id", "item_id"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    item_id: str
    def __init__(self, event_id: _Optional[str] = ..., item_id: _Optional[str] = ...) -> None: ...

class ReloadRequest(_message.Message):
    __slots__ = ["bundle_dir"]
    BUNDLE_DIR_FIELD_NUMBER: _ClassVar[int]
    bundle_dir: str
    def __init__(self, bundle_dir: _Optional[str] = ...) -> None: ...

class ReloadResponse(_message.Message):
    __slots__ = ["bundle_version", "load_seconds", "previous_version"]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    LOAD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    bundle_version: str
    load_seconds: float
    previous_version: str
    def __init__(self, bundle_version: _Optional[str] = ..., previous_version: _Optional[str] = ..., load_seconds: _Optional[float] = ...) -> None: ...

class RetrainRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class RetrainResponse(_message.Message):
    __slots__ = ["bundle_dir", "bundle_version", "candidate_ndcg10", "holdout_events", "holdout_users", "message", "previous_version", "seconds", "serving_ndcg10", "swapped", "trained_events"]
    BUNDLE_DIR_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_NDCG10_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_USERS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    SERVING_NDCG10_FIELD_NUMBER: _ClassVar[int]
    SWAPPED_FIELD_NUMBER: _ClassVar[int]
    TRAINED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    bundle_dir: str
    bundle_version: str
    candidate_ndcg10: float
    holdout_events: int
    holdout_users: int
    message: str
    previous_version: str
    seconds: float
    serving_ndcg10: float
    swapped: bool
    trained_events: int
    def __init__(self, swapped: bool = ..., message: _Optional[str] = ..., serving_ndcg10: _Optional[float] = ..., candidate_ndcg10: _Optional[float] = ..., holdout_events: _Optional[int] = ..., holdout_users: _Optional[int] = ..., trained_events: _Optional[int] = ..., bundle_version: _Optional[str] = ..., previous_version: _Optional[str] = ..., bundle_dir: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class UpsertItemRequest(_message.Message):
    __slots__ = ["categories", "event_id", "fields", "item_id", "title", "year"]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    event_id: str
    fields: _containers.RepeatedCompositeFieldContainer[_recommender_pb2.Field]
    item_id: str
    title: str
    year: int
    def __init__(self, event_id: _Optional[str] = ..., item_id: _Optional[str] = ..., title: _Optional[str] = ..., year: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., fields: _Optional[_Iterable[_Union[_recommender_pb2.Field, _Mapping]]] = ...) -> None: ...
