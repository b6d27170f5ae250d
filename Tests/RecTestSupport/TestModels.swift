import Foundation

/// Where tests find the real all-MiniLM-L6-v2 folder (`recfuse models fetch` puts it in
/// `<package>/models`; `RECFUSE_MODELS_DIR` overrides). Tests that need the weights are
/// enabled only when it is there; `scripts/test.sh` fetches it first and sets
/// `RECFUSE_REQUIRE_MODELS=1`, under which a missing model is a failure, not a skip.
public enum TestModels {
    public static let packageRoot: URL = {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }  // Tests/RecTestSupport/TestModels.swift
        return u
    }()

    public static var modelsDir: URL {
        if let d = ProcessInfo.processInfo.environment["RECFUSE_MODELS_DIR"], !d.isEmpty {
            return URL(fileURLWithPath: d)
        }
        return packageRoot.appendingPathComponent("models")
    }

    public static var miniLM: URL? {
        let d = modelsDir.appendingPathComponent("all-MiniLM-L6-v2")
        return FileManager.default.fileExists(atPath: d.appendingPathComponent("model.safetensors").path) ? d : nil
    }

    public static var required: Bool { ProcessInfo.processInfo.environment["RECFUSE_REQUIRE_MODELS"] == "1" }
}
