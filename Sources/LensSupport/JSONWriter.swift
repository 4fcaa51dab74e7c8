/// A small streaming JSON writer: exact float formatting (shortest round-trip form),
/// correct string escaping, no Foundation bridging. Used for `--json` / JSON Lines output.
public struct JSONWriter {
    public private(set) var text = ""
    private var needsComma: [Bool] = [false]

    public init() {}

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() { valuePrefix(); text += "{"; needsComma.append(false) }
    public mutating func endObject() { text += "}"; needsComma.removeLast() }
    public mutating func beginArray() { valuePrefix(); text += "["; needsComma.append(false) }
    public mutating func endArray() { text += "]"; needsComma.removeLast() }

    /// Writes `"key":` inside an object; the next value completes the member.
    public mutating func key(_ k: String) {
        separator()
        text += JSONWriter.quote(k)
        text += ":"
        afterKey = true
    }
    private var afterKey = false

    /// Before any value: a comma unless it completes a `key:` member or opens a container.
    private mutating func valuePrefix() {
        if afterKey { afterKey = false } else { separator() }
    }

    public mutating func string(_ s: String) { valuePrefix(); text += JSONWriter.quote(s) }
    public mutating func int(_ v: Int) { valuePrefix(); text += String(v) }
    public mutating func bool(_ v: Bool) { valuePrefix(); text += v ? "true" : "false" }
    public mutating func null() { valuePrefix(); text += "null" }
    /// Non-finite values become null (JSON has no NaN).
    public mutating func number(_ v: Double) { valuePrefix(); text += JSONWriter.format(v) }
    public mutating func number(_ v: Float) { valuePrefix(); text += JSONWriter.format(v) }
    /// A float array, optionally rounded to `digits` decimals.
    public mutating func floats(_ a: [Float], digits: Int? = nil) {
        valuePrefix()
        text += "["
        for (i, v) in a.enumerated() {
            if i > 0 { text += "," }
            if let digits { text += JSONWriter.format(Double(v), digits: digits) } else { text += JSONWriter.format(v) }
        }
        text += "]"
    }
    public mutating func ints<T: BinaryInteger>(_ a: [T]) {
        valuePrefix()
        text += "[" + a.map { String($0) }.joined(separator: ",") + "]"
    }

    // Members in one call.
    public mutating func member(_ k: String, _ v: String) { key(k); string(v) }
    public mutating func member(_ k: String, _ v: Int) { key(k); int(v) }
    public mutating func member(_ k: String, _ v: Bool) { key(k); bool(v) }
    public mutating func member(_ k: String, _ v: Double) { key(k); number(v) }

    public static func format(_ v: Float) -> String { v.isFinite ? "\(v)" : "null" }
    public static func format(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }
    public static func format(_ v: Double, digits: Int) -> String {
        guard v.isFinite else { return "null" }
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let r = (v * p).rounded() / p
        return r == 0 ? "0" : "\(r)"
    }

    /// A JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x2028 || u.value == 0x2029:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
