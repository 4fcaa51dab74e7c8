import LensExplorer

/// Semantic colour roles; themes map them to colours and attributes.
public enum Role: String, CaseIterable, Sendable {
    case normal, dim, header, title, accent, border, focus, selected, masked, status, error, hint, input, cursor
    case latent, mean, eos, query
    case heat0, heat1, heat2, heat3, heat4
}

/// One terminal cell: a grapheme (or "" for the right half of a wide character).
public struct Cell: Equatable, Sendable {
    public var text: String
    public var role: Role
    public init(_ text: String = " ", _ role: Role = .normal) {
        self.text = text
        self.role = role
    }
}

/// An off-screen screen: rendering writes here; the terminal backend draws only what
/// changed; tests compare it as text.
public struct CellGrid: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    public private(set) var cells: [Cell]
    /// Where the terminal cursor should be (text input), if visible.
    public var cursor: (row: Int, column: Int)? = nil
    /// Clickable rectangles, in drawing order (a later one drawn over an earlier one wins).
    public var regions: [(row: Int, column: Int, height: Int, width: Int, target: ClickTarget)] = []

    /// Marks a rectangle as clickable.
    public mutating func region(row: Int, column: Int, height: Int, width: Int, _ target: ClickTarget) {
        regions.append((row, column, height, width, target))
    }

    /// What a click at (row, column) lands on, if anything.
    public func target(row: Int, column: Int) -> ClickTarget? {
        regions.last { row >= $0.row && row < $0.row + $0.height && column >= $0.column && column < $0.column + $0.width }?.target
    }

    public init(rows: Int, columns: Int) {
        self.rows = max(rows, 0)
        self.columns = max(columns, 0)
        cells = Array(repeating: Cell(), count: self.rows * self.columns)
    }

    public static func == (a: CellGrid, b: CellGrid) -> Bool {
        a.rows == b.rows && a.columns == b.columns && a.cells == b.cells && a.cursor?.row == b.cursor?.row && a.cursor?.column == b.cursor?.column
    }

    public subscript(row: Int, column: Int) -> Cell {
        get { cells[row * columns + column] }
        set { cells[row * columns + column] = newValue }
    }

    /// Writes `s` at (row, column), clipped to `width` columns (default: to the edge).
    /// Wide characters take two cells; one that would straddle the limit is replaced by
    /// a space. Returns the columns used.
    @discardableResult
    public mutating func put(_ s: String, row: Int, column: Int, role: Role = .normal, width: Int? = nil) -> Int {
        guard row >= 0, row < rows, column < columns else { return 0 }
        let limit = min(columns, column + (width ?? columns))
        var x = max(column, 0)
        for ch in s {
            let c = DisplayWidth.printable(ch)
            let w = DisplayWidth.of(c)
            if x + w > limit {
                if x < limit { self[row, x] = Cell(" ", role); x += 1 }
                break
            }
            self[row, x] = Cell(String(c), role)
            if w == 2 { self[row, x + 1] = Cell("", role) }
            x += w
        }
        return x - column
    }

    /// Fills a rectangle with a character.
    public mutating func fill(row: Int, column: Int, height: Int, width: Int, _ text: String = " ", role: Role = .normal) {
        for r in max(row, 0)..<min(rows, row + height) {
            for c in max(column, 0)..<min(columns, column + width) { self[r, c] = Cell(text, role) }
        }
    }

    /// Changes the role of a span of cells (highlighting).
    public mutating func setRole(row: Int, column: Int, width: Int, _ role: Role) {
        guard row >= 0, row < rows else { return }
        for c in max(column, 0)..<min(columns, column + width) { self[row, c].role = role }
    }

    /// The screen as text: one line per row, wide characters once, trailing spaces trimmed.
    public var text: String {
        (0..<rows).map { line($0) }.joined(separator: "\n")
    }

    public func line(_ r: Int) -> String {
        var s = ""
        for c in 0..<columns { s += self[r, c].text }
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
