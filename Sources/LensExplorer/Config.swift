import Foundation

/// The explorer's user settings: `$XDG_CONFIG_HOME/latentlens/config` (else
/// `~/.config/latentlens/config`), one `key = value` per line, `#` comments:
///
///     theme = light          # a name (Themes/ or the config folder's themes/) or a file
///     k     = 20             # neighbours per pooling, 1–100
///     mouse = off            # on | off
///     hints = off            # the key-hint bar: on | off
///     live  = off            # live re-ranking while typing: on | off
///     history = off          # keep no query history between sessions (QueryHistory)
///     map x = h              # pressing x does what h does (outside text fields)
///
/// Command-line options win over the file. An unknown key, a bad value or an unknown key name
/// is an error naming the file and line, so a typo never silently does nothing.
public struct ExplorerConfig: Equatable, Sendable {
    public var theme: String?
    public var k: Int?
    public var mouse: Bool?
    public var hints: Bool?
    public var live: Bool?
    public var history: Bool?
    /// Key remaps: the pressed key → the key whose action it takes.
    public var keyMap: [Key: Key] = [:]
    /// The file read (nil: none existed).
    public var source: String?

    public init() {}

    /// The config folder: `$XDG_CONFIG_HOME/latentlens`, else `$HOME/.config/latentlens`.
    public static func folder(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let x = env["XDG_CONFIG_HOME"], !x.isEmpty { return x + "/latentlens" }
        if let h = env["HOME"], !h.isEmpty { return h + "/.config/latentlens" }
        return nil
    }

    /// Reads `folder()/config`; no file is no settings, not an error.
    public static func load(environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> ExplorerConfig {
        guard let dir = folder(environment: env) else { return ExplorerConfig() }
        let path = dir + "/config"
        guard let data = FileManager.default.contents(atPath: path) else { return ExplorerConfig() }
        guard let text = String(data: data, encoding: .utf8) else { throw ConfigError(source: path, line: 0, reason: "not UTF-8 text") }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String) throws -> ExplorerConfig {
        var c = ExplorerConfig()
        c.source = source
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            func fail(_ reason: String) -> ConfigError { ConfigError(source: source, line: n + 1, reason: reason) }
            guard let eq = line.firstIndex(of: "=") else { throw fail("expected KEY = VALUE") }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { throw fail("\(key) has no value") }
            func flag() throws -> Bool {
                switch value.lowercased() {
                case "on", "true", "yes": return true
                case "off", "false", "no": return false
                default: throw fail("\(key) is on or off, not \(value.debugDescription)")
                }
            }
            switch key {
            case "theme": c.theme = value
            case "k":
                guard let k = Int(value), (1...100).contains(k) else { throw fail("k is a number from 1 to 100, not \(value.debugDescription)") }
                c.k = k
            case "mouse": c.mouse = try flag()
            case "hints": c.hints = try flag()
            case "live": c.live = try flag()
            case "history": c.history = try flag()
            default:
                let words = key.split(separator: " ", omittingEmptySubsequences: true)
                guard words.count == 2, words[0] == "map" else {
                    throw fail("unknown setting \(key.debugDescription) (theme, k, mouse, hints, live, history, map KEY)")
                }
                guard let from = keyNamed(String(words[1])) else { throw fail("unknown key name \(String(words[1]).debugDescription) (\(keyNameHelp))") }
                guard let to = keyNamed(value) else { throw fail("unknown key name \(value.debugDescription) (\(keyNameHelp))") }
                c.keyMap[from] = to
            }
        }
        return c
    }

    static let keyNameHelp = "a character, ctrl-X, f1–f12, enter, tab, esc, space, up, down, left, right, home, end, pgup, pgdn"

    /// "x", "ctrl-d", "f2", "enter", "space", "pgdn", …
    public static func keyNamed(_ name: String) -> Key? {
        if name.count == 1, let c = name.first { return .character(c) }
        let lower = name.lowercased()
        if lower.hasPrefix("ctrl-"), lower.count == 6, let c = lower.last, c.isLetter { return .control(c) }
        if lower.hasPrefix("f"), let n = Int(lower.dropFirst()), (1...12).contains(n) { return .function(n) }
        let named: [String: Key] = ["enter": .enter, "tab": .tab, "esc": .escape, "escape": .escape, "space": .character(" "),
                                    "up": .up, "down": .down, "left": .left, "right": .right, "home": .home, "end": .end,
                                    "pgup": .pageUp, "pageup": .pageUp, "pgdn": .pageDown, "pagedown": .pageDown]
        return named[lower]
    }

    /// Puts the settings into a fresh explorer state (the run loop applies mouse and theme).
    public func apply(to s: inout ExplorerState) {
        if let k { s.k = k }
        if let hints { s.showHints = hints }
        if let live { s.liveSearch = live }
        s.keyMap = keyMap
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let source: String
    public let line: Int
    public let reason: String
    public var description: String { line > 0 ? "\(source):\(line): \(reason)" : "\(source): \(reason)" }
}
