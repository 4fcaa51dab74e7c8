import Foundation

/// A terminal colour: the terminal's default, one of the 16 ANSI colours, or a 256-colour index.
public enum TerminalColor: Equatable, Sendable {
    case terminalDefault
    case indexed(Int)

    static let names = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]

    /// "default", "red", "bright-red", or 0…255.
    static func parse(_ s: String) -> TerminalColor? {
        if s == "default" { return .terminalDefault }
        if let i = names.firstIndex(of: s) { return .indexed(i) }
        if s.hasPrefix("bright-"), let i = names.firstIndex(of: String(s.dropFirst(7))) { return .indexed(i + 8) }
        if let n = Int(s), (0...255).contains(n) { return .indexed(n) }
        return nil
    }
}

/// How a role looks.
public struct Style: Equatable, Sendable {
    public var foreground: TerminalColor = .terminalDefault
    public var background: TerminalColor = .terminalDefault
    public var bold = false
    public var dim = false
    public var underline = false
    public var reverse = false
    public var italic = false
    public init() {}
}

/// A theme: a style per semantic role, read from a small text format (Themes/README.md):
///
///     # comment
///     name = dark
///     colors = 256            (16, 256 or 0 for monochrome)
///     focus = bright-white on 24 bold
///     heat3 = 0 on 208
///
/// Unknown roles or colours are errors with their line number.
public struct Theme: Equatable, Sendable {
    public var name: String
    /// Colours the theme needs (0 = monochrome: attributes only).
    public var colors: Int
    public var styles: [Role: Style]

    public func style(_ r: Role) -> Style { styles[r] ?? styles[.normal] ?? Style() }

    public static func parse(_ text: String, source: String) throws -> Theme {
        var t = Theme(name: source, colors: 16, styles: [:])
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            let kv = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { throw ThemeError(source: source, line: i + 1, reason: "expected KEY = VALUE") }
            switch kv[0] {
            case "name": t.name = kv[1]
            case "colors":
                guard let n = Int(kv[1]), [0, 8, 16, 256].contains(n) else { throw ThemeError(source: source, line: i + 1, reason: "colors is 0, 8, 16 or 256") }
                t.colors = n
            default:
                guard let role = Role(rawValue: kv[0]) else {
                    throw ThemeError(source: source, line: i + 1, reason: "unknown role \(kv[0]) (roles: \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                t.styles[role] = try parseStyle(kv[1], source: source, line: i + 1)
            }
        }
        return t
    }

    static func parseStyle(_ s: String, source: String, line: Int) throws -> Style {
        var st = Style()
        var words = s.split(separator: " ").map(String.init)
        func color(_ w: String) throws -> TerminalColor {
            guard let c = TerminalColor.parse(w) else { throw ThemeError(source: source, line: line, reason: "unknown colour \(w)") }
            return c
        }
        if let first = words.first, TerminalColor.parse(first) != nil {
            st.foreground = try color(first)
            words.removeFirst()
            if words.first == "on", words.count >= 2 {
                st.background = try color(words[1])
                words.removeFirst(2)
            }
        }
        for w in words {
            switch w {
            case "bold": st.bold = true
            case "dim": st.dim = true
            case "underline": st.underline = true
            case "reverse": st.reverse = true
            case "italic": st.italic = true
            default: throw ThemeError(source: source, line: line, reason: "unknown attribute \(w)")
            }
        }
        return st
    }

    /// A theme with colours removed (NO_COLOR, --no-color, monochrome terminals): keeps
    /// bold/underline/reverse so focus, selection and heat stay visible.
    public var monochrome: Theme {
        var t = self
        t.colors = 0
        for (r, s) in styles {
            var m = s
            m.foreground = .terminalDefault
            m.background = .terminalDefault
            if r == .selected || r == .focus { m.reverse = true }
            t.styles[r] = m
        }
        return t
    }

    /// Loads `Themes/NAME.theme` (searched next to the binary / the checkout) or a path.
    public static func load(_ nameOrPath: String, searchFolders: [String]) throws -> Theme {
        let fm = FileManager.default
        var candidates = [nameOrPath]
        for f in searchFolders { candidates.append(f + "/" + nameOrPath + ".theme") }
        for c in candidates where fm.fileExists(atPath: c) {
            guard let d = fm.contents(atPath: c) else { continue }
            return try parse(String(decoding: d, as: UTF8.self), source: c)
        }
        let known = searchFolders.flatMap { f in
            ((try? fm.contentsOfDirectory(atPath: f)) ?? []).filter { $0.hasSuffix(".theme") }.map { String($0.dropLast(6)) }
        }.sorted()
        throw ThemeError(source: nameOrPath, line: 0, reason: "no such theme or file; "
                         + (known.isEmpty ? "no themes in \(searchFolders.joined(separator: ", "))" : "themes: \(known.joined(separator: ", "))"))
    }

    /// Used when no theme file can be found: works on any terminal.
    public static let fallback: Theme = {
        var t = Theme(name: "fallback", colors: 0, styles: [:])
        var b = Style(); b.bold = true
        var r = Style(); r.reverse = true
        var d = Style(); d.dim = true
        var u = Style(); u.underline = true
        t.styles = [.header: r, .title: b, .focus: b, .selected: r, .dim: d, .masked: d, .hint: d, .cursor: r, .accent: b,
                    .heat3: b, .heat4: b, .error: b, .input: u]
        return t
    }()
}

public struct ThemeError: Error, CustomStringConvertible {
    public let source: String
    public let line: Int
    public let reason: String
    public var description: String { line > 0 ? "\(source):\(line): \(reason)" : "\(source): \(reason)" }
}
