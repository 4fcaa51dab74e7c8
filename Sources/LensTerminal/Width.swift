import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// Terminal display width of text, the same way the terminal and ncurses count it: each
/// Unicode scalar's `wcwidth` under a UTF-8 locale (wide: 2, combining/zero-width: 0),
/// summed over a grapheme cluster. Control characters are not printable: callers replace
/// them (see `printable`).
public enum DisplayWidth {
    nonisolated(unsafe) private static var ready = false

    private static func prepare() {
        if ready { return }
        // Only LC_CTYPE: width tables; does not affect number formatting.
        if setlocale(LC_CTYPE, nil).map({ String(cString: $0) }).map({ !$0.lowercased().contains("utf") }) ?? true {
            _ = setlocale(LC_CTYPE, "C.UTF-8")
        }
        ready = true
    }

    /// Width of one scalar (0, 1 or 2).
    public static func of(_ u: Unicode.Scalar) -> Int {
        if u.value < 0x7F { return u.value < 0x20 ? 0 : 1 }
        prepare()
        let w = Int(ll_wcwidth(u.value))
        if w >= 0 { return w }
        // Unknown to the C library (or no UTF-8 locale): a small fallback table.
        return fallback(u)
    }

    static func fallback(_ u: Unicode.Scalar) -> Int {
        let v = u.value
        if (0x300...0x36F).contains(v) || (0x200B...0x200F).contains(v) || (0xFE00...0xFE0F).contains(v) { return 0 }
        if (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
            || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v) || (0x1F900...0x1F9FF).contains(v)
            || (0x1F680...0x1F6FF).contains(v) || (0x20000...0x3FFFD).contains(v) { return 2 }
        return 1
    }

    /// Width of a grapheme cluster.
    public static func of(_ c: Character) -> Int {
        var w = 0
        for u in c.unicodeScalars { w += of(u) }
        return w
    }

    /// Width of a string.
    public static func of(_ s: String) -> Int { s.reduce(0) { $0 + of($1) } }

    /// `c`, or a visible stand-in for control characters and lone zero-width marks.
    public static func printable(_ c: Character) -> Character {
        if let u = c.unicodeScalars.first, c.unicodeScalars.count == 1 {
            if u.value < 0x20 || u.value == 0x7F { return u == "\t" ? " " : "·" }
            if (0x80...0x9F).contains(u.value) { return "·" }
        }
        return of(c) == 0 ? "·" : c
    }

    /// The longest prefix of `s` that fits in `width` columns, with "…" when cut.
    public static func truncate(_ s: String, to width: Int) -> String {
        if width <= 0 { return "" }
        if of(s) <= width { return s }
        var out = ""
        var w = 0
        for c in s {
            let cw = of(printable(c))
            if w + cw > width - 1 { break }
            out.append(c)
            w += cw
        }
        return out + "…"
    }

    /// `s` padded with spaces (or cut) to exactly `width` columns.
    public static func pad(_ s: String, to width: Int) -> String {
        let t = truncate(s, to: width)
        return t + String(repeating: " ", count: max(0, width - of(t)))
    }

    /// Word-wraps `s` into lines of at most `width` columns (hard-breaking long words).
    public static func wrap(_ s: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = []
        for para in s.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = "", lw = 0
            for word in para.split(separator: " ", omittingEmptySubsequences: false) {
                let ww = of(String(word))
                if lw > 0 && lw + 1 + ww > width { lines.append(line); line = ""; lw = 0 }
                if ww > width {
                    for c in word {
                        let cw = of(c)
                        if lw + cw > width { lines.append(line); line = ""; lw = 0 }
                        line.append(c); lw += cw
                    }
                    continue
                }
                if lw > 0 { line += " "; lw += 1 }
                line += word; lw += ww
            }
            lines.append(line)
        }
        return lines
    }
}
