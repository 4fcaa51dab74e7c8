/// A one-line text input with readline/emacs editing and history.
/// Cursor positions count Unicode scalars... no: Characters (grapheme clusters), so a
/// Korean syllable or an emoji is one step.
public struct TextField: Equatable, Sendable {
    public private(set) var text: [Character] = []
    public private(set) var cursor = 0
    public var history: [String] = []
    private var historyIndex: Int? = nil
    private var draft: [Character] = []

    public init(_ s: String = "") { text = Array(s); cursor = text.count }

    public var string: String { String(text) }

    public mutating func set(_ s: String) { text = Array(s); cursor = text.count; historyIndex = nil }
    public mutating func insert(_ c: Character) { text.insert(c, at: cursor); cursor += 1; historyIndex = nil }
    public mutating func insert(_ s: String) { for c in s { insert(c) } }
    public mutating func backspace() { if cursor > 0 { text.remove(at: cursor - 1); cursor -= 1 } }
    public mutating func deleteForward() { if cursor < text.count { text.remove(at: cursor) } }
    public mutating func left() { cursor = max(0, cursor - 1) }
    public mutating func right() { cursor = min(text.count, cursor + 1) }
    public mutating func home() { cursor = 0 }
    public mutating func end() { cursor = text.count }
    /// Ctrl-U: kill to start.
    public mutating func killToStart() { text.removeFirst(cursor); cursor = 0 }
    /// Ctrl-K: kill to end.
    public mutating func killToEnd() { text.removeLast(text.count - cursor) }
    /// Ctrl-W: delete the word before the cursor (and the spaces after it).
    public mutating func deleteWord() {
        var i = cursor
        while i > 0 && text[i - 1].isWhitespace { i -= 1 }
        while i > 0 && !text[i - 1].isWhitespace { i -= 1 }
        text.removeSubrange(i..<cursor)
        cursor = i
    }
    /// Alt-B / Alt-F word motion.
    public mutating func wordLeft() {
        while cursor > 0 && text[cursor - 1].isWhitespace { cursor -= 1 }
        while cursor > 0 && !text[cursor - 1].isWhitespace { cursor -= 1 }
    }
    public mutating func wordRight() {
        while cursor < text.count && text[cursor].isWhitespace { cursor += 1 }
        while cursor < text.count && !text[cursor].isWhitespace { cursor += 1 }
    }

    /// Adds the current text to history (no consecutive duplicates, no empties).
    public mutating func commit() {
        let s = string
        if !s.isEmpty && history.last != s { history.append(s) }
        if history.count > 500 { history.removeFirst(history.count - 500) }
        historyIndex = nil
    }
    /// Up / Ctrl-P.
    public mutating func historyPrevious() {
        guard !history.isEmpty else { return }
        if historyIndex == nil { draft = text; historyIndex = history.count }
        historyIndex = max(0, historyIndex! - 1)
        text = Array(history[historyIndex!]); cursor = text.count
    }
    /// Down / Ctrl-N.
    public mutating func historyNext() {
        guard let i = historyIndex else { return }
        if i + 1 >= history.count { historyIndex = nil; text = draft } else { historyIndex = i + 1; text = Array(history[i + 1]) }
        cursor = text.count
    }
}
