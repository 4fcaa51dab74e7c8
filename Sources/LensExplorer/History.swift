import Foundation

/// The query history kept between sessions: `$XDG_STATE_HOME/latentlens/history` (else
/// `~/.local/state/latentlens/history`), one JSON string per line, the newest last, at most
/// `limit` entries. A line that is not a JSON string is skipped; a history that cannot be read
/// or written costs the history, never the session.
public enum QueryHistory {
    public static let limit = 500

    public static func path(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let x = env["XDG_STATE_HOME"], !x.isEmpty { return x + "/latentlens/history" }
        if let h = env["HOME"], !h.isEmpty { return h + "/.local/state/latentlens/history" }
        return nil
    }

    public static func load(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else { return [] }
        let entries = text.split(separator: "\n").compactMap { line -> String? in
            guard let s = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) as? String, !s.isEmpty else { return nil }
            return s
        }
        return Array(entries.suffix(limit))
    }

    /// Written atomically (a crash mid-write leaves the old history).
    public static func save(_ history: [String], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var text = ""
        for s in history.suffix(limit) where !s.isEmpty {
            let encoded = try JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed])
            text += String(decoding: encoded, as: UTF8.self) + "\n"
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
