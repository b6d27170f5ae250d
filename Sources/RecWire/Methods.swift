/// gRPC full method names of `recfuse.v1.Recommender`.
public enum Methods {
    public static let service = "recfuse.v1.Recommender"
    public static let retrieve = "/recfuse.v1.Recommender/Retrieve"
    public static let rank = "/recfuse.v1.Recommender/Rank"
    public static let rerank = "/recfuse.v1.Recommender/Rerank"
    public static let explain = "/recfuse.v1.Recommender/Explain"
    public static let health = "/recfuse.v1.Recommender/Health"
    public static let info = "/recfuse.v1.Recommender/Info"
    public static let feedback = "/recfuse.v1.Recommender/Feedback"
    public static let upsertUser = "/recfuse.v1.Recommender/UpsertUser"

    public static let all = [retrieve, rank, rerank, explain, health, info, feedback, upsertUser]

    /// The gRPC health-checking protocol's Check (grpc/health/v1/health.proto), answered over
    /// NNG too; its Watch streams, so only the gRPC door serves it.
    public static let healthService = "grpc.health.v1.Health"
    public static let healthCheck = "/grpc.health.v1.Health/Check"
    public static let healthWatch = "/grpc.health.v1.Health/Watch"

    /// `recfuse.v1.Admin` (admin.proto): needs the server's admin token.
    public static let adminReload = "/recfuse.v1.Admin/Reload"
    public static let upsertItem = "/recfuse.v1.Admin/UpsertItem"
    public static let deleteItem = "/recfuse.v1.Admin/DeleteItem"
    public static let retrain = "/recfuse.v1.Admin/Retrain"
    /// Catalogue writes and retraining: need the admin token like Reload.
    public static let adminWrites: Set<String> = [upsertItem, deleteItem, retrain]
    public static let admin = [adminReload, upsertItem, deleteItem, retrain]
}
