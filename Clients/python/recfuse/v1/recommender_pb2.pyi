from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EXPLAIN_STYLE_DEFAULT: ExplainStyle
EXPLAIN_STYLE_LLM: ExplainStyle
EXPLAIN_STYLE_TEMPLATE: ExplainStyle
JUDGE_DEFAULT: Judge
JUDGE_LLM_POINTWISE: Judge
JUDGE_LLM_RELEVANCY: Judge
JUDGE_LOCAL: Judge
NORMALIZATION_DEFAULT: Normalization
NORMALIZATION_MINMAX: Normalization
NORMALIZATION_RANK: Normalization
RETRIEVAL_PATH_APPROXIMATE: RetrievalPath
RETRIEVAL_PATH_AUTO: RetrievalPath
RETRIEVAL_PATH_EXACT: RetrievalPath

class Candidate(_message.Message):
    __slots__ = ["base_score", "item_id"]
    BASE_SCORE_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    base_score: float
    item_id: str
    def __init__(self, item_id: _Optional[str] = ..., base_score: _Optional[float] = ...) -> None: ...

class DatasetInfo(_message.Message):
    __slots__ = ["fingerprint", "interactions", "items", "name", "users"]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    fingerprint: str
    interactions: int
    items: int
    name: str
    users: int
    def __init__(self, name: _Optional[str] = ..., fingerprint: _Optional[str] = ..., users: _Optional[int] = ..., items: _Optional[int] = ..., interactions: _Optional[int] = ...) -> None: ...

class EngineInfo(_message.Message):
    __slots__ = ["description", "index", "methods", "name"]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    description: str
    index: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    name: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., index: _Optional[str] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ["detail", "item_id", "kind", "title", "weight"]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    detail: str
    item_id: str
    kind: str
    title: str
    weight: float
    def __init__(self, kind: _Optional[str] = ..., item_id: _Optional[str] = ..., title: _Optional[str] = ..., weight: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ["engine", "item_id", "max_evidence", "style", "user"]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    engine: str
    item_id: str
    max_evidence: int
    style: ExplainStyle
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., item_id: _Optional[str] = ..., engine: _Optional[str] = ..., style: _Optional[_Union[ExplainStyle, str]] = ..., max_evidence: _Optional[int] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ["evidence", "item_id", "meta", "score", "style", "text"]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    item_id: str
    meta: ResponseMeta
    score: float
    style: ExplainStyle
    text: str
    def __init__(self, item_id: _Optional[str] = ..., text: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., style: _Optional[_Union[ExplainStyle, str]] = ..., meta: _Optional[_Union[ResponseMeta, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class FeedbackEvent(_message.Message):
    __slots__ = ["event_id", "event_type", "item_id", "rating", "timestamp", "user_id"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    item_id: str
    rating: float
    timestamp: int
    user_id: str
    def __init__(self, event_id: _Optional[str] = ..., user_id: _Optional[str] = ..., item_id: _Optional[str] = ..., rating: _Optional[float] = ..., timestamp: _Optional[int] = ..., event_type: _Optional[str] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[FeedbackEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[FeedbackEvent, _Mapping]]] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ["duplicates", "recorded", "sequence"]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    duplicates: int
    recorded: int
    sequence: int
    def __init__(self, recorded: _Optional[int] = ..., duplicates: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class Field(_message.Message):
    __slots__ = ["name", "value"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Filters(_message.Message):
    __slots__ = ["allow_items", "deny_items", "exclude_genres", "genres", "max_year", "min_year"]
    ALLOW_ITEMS_FIELD_NUMBER: _ClassVar[int]
    DENY_ITEMS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_GENRES_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    MAX_YEAR_FIELD_NUMBER: _ClassVar[int]
    MIN_YEAR_FIELD_NUMBER: _ClassVar[int]
    allow_items: _containers.RepeatedScalarFieldContainer[str]
    deny_items: _containers.RepeatedScalarFieldContainer[str]
    exclude_genres: _containers.RepeatedScalarFieldContainer[str]
    genres: _containers.RepeatedScalarFieldContainer[str]
    max_year: int
    min_year: int
    def __init__(self, allow_items: _Optional[_Iterable[str]] = ..., deny_items: _Optional[_Iterable[str]] = ..., genres: _Optional[_Iterable[str]] = ..., exclude_genres: _Optional[_Iterable[str]] = ..., min_year: _Optional[int] = ..., max_year: _Optional[int] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ["bundle_version", "status", "uptime_seconds"]
    class ServingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = []
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    NOT_SERVING: HealthResponse.ServingStatus
    SERVING: HealthResponse.ServingStatus
    SERVING_STATUS_UNKNOWN: HealthResponse.ServingStatus
    STATUS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    bundle_version: str
    status: HealthResponse.ServingStatus
    uptime_seconds: float
    def __init__(self, status: _Optional[_Union[HealthResponse.ServingStatus, str]] = ..., bundle_version: _Optional[str] = ..., uptime_seconds: _Optional[float] = ...) -> None: ...

class HistoryItem(_message.Message):
    __slots__ = ["item_id", "rating", "timestamp"]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    rating: float
    timestamp: int
    def __init__(self, item_id: _Optional[str] = ..., rating: _Optional[float] = ..., timestamp: _Optional[int] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ["bundle_created", "bundle_version", "dataset", "default_engine", "engines", "limits", "methods", "server_version", "store"]
    BUNDLE_CREATED_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    bundle_created: str
    bundle_version: str
    dataset: DatasetInfo
    default_engine: str
    engines: _containers.RepeatedCompositeFieldContainer[EngineInfo]
    limits: Limits
    methods: _containers.RepeatedScalarFieldContainer[str]
    server_version: str
    store: StoreInfo
    def __init__(self, server_version: _Optional[str] = ..., bundle_version: _Optional[str] = ..., dataset: _Optional[_Union[DatasetInfo, _Mapping]] = ..., engines: _Optional[_Iterable[_Union[EngineInfo, _Mapping]]] = ..., default_engine: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., methods: _Optional[_Iterable[str]] = ..., bundle_created: _Optional[str] = ..., store: _Optional[_Union[StoreInfo, _Mapping]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ["ann_min_items", "max_candidates", "max_feedback_batch", "max_history", "max_k", "max_message_bytes", "max_text_bytes"]
    ANN_MIN_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MAX_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MAX_FEEDBACK_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_HISTORY_FIELD_NUMBER: _ClassVar[int]
    MAX_K_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_BYTES_FIELD_NUMBER: _ClassVar[int]
    ann_min_items: int
    max_candidates: int
    max_feedback_batch: int
    max_history: int
    max_k: int
    max_message_bytes: int
    max_text_bytes: int
    def __init__(self, max_message_bytes: _Optional[int] = ..., max_k: _Optional[int] = ..., max_candidates: _Optional[int] = ..., max_text_bytes: _Optional[int] = ..., max_history: _Optional[int] = ..., ann_min_items: _Optional[int] = ..., max_feedback_batch: _Optional[int] = ...) -> None: ...

class RankRequest(_message.Message):
    __slots__ = ["engine", "exclude_seen", "filters", "item_ids", "k", "user"]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SEEN_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    engine: str
    exclude_seen: bool
    filters: Filters
    item_ids: _containers.RepeatedScalarFieldContainer[str]
    k: int
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., engine: _Optional[str] = ..., item_ids: _Optional[_Iterable[str]] = ..., k: _Optional[int] = ..., exclude_seen: bool = ..., filters: _Optional[_Union[Filters, _Mapping]] = ...) -> None: ...

class RankResponse(_message.Message):
    __slots__ = ["items", "meta", "unknown_items"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ScoredItem]
    meta: ResponseMeta
    unknown_items: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[_Union[ScoredItem, _Mapping]]] = ..., meta: _Optional[_Union[ResponseMeta, _Mapping]] = ..., unknown_items: _Optional[_Iterable[str]] = ...) -> None: ...

class RerankRequest(_message.Message):
    __slots__ = ["alpha", "base_engine", "candidates", "diversity", "filters", "judge", "k", "normalization", "pool_size", "position_weights", "user"]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BASE_ENGINE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    JUDGE_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    POSITION_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    alpha: float
    base_engine: str
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    diversity: float
    filters: Filters
    judge: Judge
    k: int
    normalization: Normalization
    pool_size: int
    position_weights: bool
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., base_engine: _Optional[str] = ..., pool_size: _Optional[int] = ..., judge: _Optional[_Union[Judge, str]] = ..., alpha: _Optional[float] = ..., normalization: _Optional[_Union[Normalization, str]] = ..., position_weights: bool = ..., diversity: _Optional[float] = ..., k: _Optional[int] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ...) -> None: ...

class RerankResponse(_message.Message):
    __slots__ = ["items", "judge", "meta", "unknown_items"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    JUDGE_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ScoredItem]
    judge: Judge
    meta: ResponseMeta
    unknown_items: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[_Union[ScoredItem, _Mapping]]] = ..., meta: _Optional[_Union[ResponseMeta, _Mapping]] = ..., unknown_items: _Optional[_Iterable[str]] = ..., judge: _Optional[_Union[Judge, str]] = ...) -> None: ...

class ResponseMeta(_message.Message):
    __slots__ = ["bundle_version", "degraded", "degraded_reason", "engine", "requested_engine", "retrieval", "warnings"]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_ENGINE_FIELD_NUMBER: _ClassVar[int]
    RETRIEVAL_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    bundle_version: str
    degraded: bool
    degraded_reason: str
    engine: str
    requested_engine: str
    retrieval: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, engine: _Optional[str] = ..., requested_engine: _Optional[str] = ..., bundle_version: _Optional[str] = ..., degraded: bool = ..., degraded_reason: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ..., retrieval: _Optional[str] = ...) -> None: ...

class RetrieveRequest(_message.Message):
    __slots__ = ["engine", "exclude_seen", "filters", "k", "path", "user"]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SEEN_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    engine: str
    exclude_seen: bool
    filters: Filters
    k: int
    path: RetrievalPath
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., engine: _Optional[str] = ..., k: _Optional[int] = ..., exclude_seen: bool = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., path: _Optional[_Union[RetrievalPath, str]] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ["items", "meta"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ScoredItem]
    meta: ResponseMeta
    def __init__(self, items: _Optional[_Iterable[_Union[ScoredItem, _Mapping]]] = ..., meta: _Optional[_Union[ResponseMeta, _Mapping]] = ...) -> None: ...

class ScoredItem(_message.Message):
    __slots__ = ["components", "genres", "item_id", "rank", "score", "title", "year"]
    class ComponentsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    components: _containers.ScalarMap[str, float]
    genres: _containers.RepeatedScalarFieldContainer[str]
    item_id: str
    rank: int
    score: float
    title: str
    year: int
    def __init__(self, item_id: _Optional[str] = ..., score: _Optional[float] = ..., rank: _Optional[int] = ..., title: _Optional[str] = ..., year: _Optional[int] = ..., genres: _Optional[_Iterable[str]] = ..., components: _Optional[_Mapping[str, float]] = ...) -> None: ...

class StoreInfo(_message.Message):
    __slots__ = ["deleted_items", "feedback_events", "kind", "new_items", "sequence"]
    DELETED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NEW_ITEMS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    deleted_items: int
    feedback_events: int
    kind: str
    new_items: int
    sequence: int
    def __init__(self, kind: _Optional[str] = ..., sequence: _Optional[int] = ..., feedback_events: _Optional[int] = ..., new_items: _Optional[int] = ..., deleted_items: _Optional[int] = ...) -> None: ...

class UpsertUserRequest(_message.Message):
    __slots__ = ["age", "attributes", "event_id", "gender", "occupation", "user_id"]
    AGE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    OCCUPATION_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    age: int
    attributes: _containers.RepeatedCompositeFieldContainer[Field]
    event_id: str
    gender: str
    occupation: str
    user_id: str
    def __init__(self, event_id: _Optional[str] = ..., user_id: _Optional[str] = ..., age: _Optional[int] = ..., gender: _Optional[str] = ..., occupation: _Optional[str] = ..., attributes: _Optional[_Iterable[_Union[Field, _Mapping]]] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ["age", "gender", "history", "id", "occupation", "preference"]
    AGE_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    OCCUPATION_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    age: int
    gender: str
    history: _containers.RepeatedCompositeFieldContainer[HistoryItem]
    id: str
    occupation: str
    preference: str
    def __init__(self, id: _Optional[str] = ..., history: _Optional[_Iterable[_Union[HistoryItem, _Mapping]]] = ..., preference: _Optional[str] = ..., age: _Optional[int] = ..., gender: _Optional[str] = ..., occupation: _Optional[str] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ["duplicate", "not_scored_by", "scored_by", "sequence"]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    NOT_SCORED_BY_FIELD_NUMBER: _ClassVar[int]
    SCORED_BY_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    not_scored_by: _containers.RepeatedScalarFieldContainer[str]
    scored_by: _containers.RepeatedScalarFieldContainer[str]
    sequence: int
    def __init__(self, duplicate: bool = ..., sequence: _Optional[int] = ..., scored_by: _Optional[_Iterable[str]] = ..., not_scored_by: _Optional[_Iterable[str]] = ...) -> None: ...

class RetrievalPath(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Judge(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Normalization(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ExplainStyle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
