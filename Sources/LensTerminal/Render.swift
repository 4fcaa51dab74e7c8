import Foundation
import LensExplorer
import LensModel

/// Smallest screen the explorer draws into; below it, a clear message.
public let minimumColumns = 40
public let minimumRows = 12
/// From this width the three panes sit side by side.
public let sideBySideColumns = 110

let heatGlyphs: [Character] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
let spinnerFrames: [Character] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

/// Glyph for a value in [0, 1] (0 → blank is avoided for non-zero values).
func heatGlyph(_ v: Float) -> Character {
    guard v.isFinite, v > 0 else { return heatGlyphs[0] }
    return heatGlyphs[max(1, min(8, Int((v * 8).rounded(.up))))]
}

func heatRole(_ v: Float) -> Role {
    guard v.isFinite, v > 0 else { return .heat0 }
    return [Role.heat0, .heat1, .heat2, .heat3, .heat4][max(0, min(4, Int(v * 5)))]
}

func poolingRole(_ p: Pooling) -> Role { p == .latent ? .latent : p == .mean ? .mean : .eos }

/// A share formatted in 4 columns: ".23", "1.0", "-.05"; `precise`: below .1 a third digit
/// (".004"), since a long document's tokens each hold a few thousandths, which two digits would
/// all show as ".00".
func formatShare(_ v: Float, precise: Bool = false) -> String {
    if !v.isFinite { return "  ? " }
    if abs(v) >= 0.995 { return String(format: "%4.1f", v) }
    let s = String(format: precise && v >= 0 && v < 0.0995 ? "%.3f" : "%.2f", v)
    return s.replacingOccurrences(of: "0.", with: ".")
}

/// Renders the whole screen for a state: a pure function (tests compare its text).
public func render(_ s: ExplorerState) -> CellGrid {
    var g = CellGrid(rows: s.rows, columns: s.columns)
    if s.columns < minimumColumns || s.rows < minimumRows {
        // Short lines, so the message stays whole in the narrowest windows too.
        let lines = ["Terminal too small", "\(s.columns)×\(s.rows), needs \(minimumColumns)×\(minimumRows)", "Enlarge the window", "or press q to quit"]
        for (i, l) in lines.enumerated() {
            let row = max(0, s.rows / 2 - 1 + i)
            g.put(DisplayWidth.truncate(l, to: s.columns), row: row, column: max(0, (s.columns - DisplayWidth.of(l)) / 2), role: i == 0 ? .error : .normal)
        }
        return g
    }
    switch s.overlay {
    case .none: renderMain(s, &g)
    case .help: renderHelp(s, &g)
    case .definitions: renderDefinitions(s, &g)
    case .heatmap: renderHeatmap(s, &g)
    case .document: renderDocument(s, &g)
    case .map: renderMap(s, &g)
    }
    for (prompt, field) in [(":", s.commandLine), ("/", s.findLine)] {
        guard let field else { continue }
        let row = s.rows - 1
        g.fill(row: row, column: 0, height: 1, width: s.columns, role: .input)
        g.put(prompt + field.string, row: row, column: 0, role: .input)
        g.cursor = (row, min(s.columns - 1, 1 + DisplayWidth.of(String(field.text.prefix(field.cursor)))))
    }
    return g
}

// MARK: - main screen

func renderHeader(_ s: ExplorerState, _ g: inout CellGrid, title: String? = nil) {
    g.fill(row: 0, column: 0, height: 1, width: s.columns, role: .header)
    let i = s.info
    let params = i.parameters >= 1_000_000 ? String(format: "%.1fM", Double(i.parameters) / 1e6) : "\(i.parameters)"
    let corpus = i.corpora.isEmpty ? "no corpus" : "\(i.corpora[s.corpus]) (\(i.documentCounts[s.corpus]) docs)"
    var left = " LatentLens · \(i.modelName) (\(params) params, d=\(i.width))"
    if let title { left += " · " + title }
    let right = "corpus \(corpus) · mask \(s.mask.rawValue) · \(i.threads) thr "
    if DisplayWidth.of(left) + DisplayWidth.of(right) + 1 <= s.columns {
        g.put(left, row: 0, column: 0, role: .header)
        g.put(right, row: 0, column: s.columns - DisplayWidth.of(right), role: .header)
    } else {
        g.put(DisplayWidth.truncate(left + " · " + right, to: s.columns), row: 0, column: 0, role: .header)
    }
}

func renderMain(_ s: ExplorerState, _ g: inout CellGrid) {
    renderHeader(s, &g)
    var row = 1
    // Instruction field.
    let preset = s.presets[s.preset]
    let label = " Instruction "
    let presetLabel = "[\(preset.name) ↕] "
    let instrFocused = s.focus == .instruction
    g.region(row: row, column: 0, height: 1, width: s.columns, .field(.instruction))
    g.put(label, row: row, column: 0, role: instrFocused ? .focus : .title)
    var x = DisplayWidth.of(label)
    x += g.put(presetLabel, row: row, column: x, role: .accent)
    let instrText = preset.name == "custom" ? s.customInstruction.string : (preset.task.isEmpty ? "(none: the query is embedded like a passage; NV-Embed expects an instruction)" : preset.task)
    g.fill(row: row, column: x, height: 1, width: s.columns - x, role: .input)
    g.put(instrText, row: row, column: x, role: preset.task.isEmpty && preset.name != "custom" ? .dim : .input, width: s.columns - x - 1)
    if instrFocused && preset.name == "custom" {
        g.cursor = (row, min(s.columns - 1, x + DisplayWidth.of(String(s.customInstruction.text.prefix(s.customInstruction.cursor)))))
    }
    row += 1
    // Query field.
    g.region(row: row, column: 0, height: 1, width: s.columns, .field(.query))
    let qlabel = " Query       "
    g.put(qlabel, row: row, column: 0, role: s.focus == .query ? .focus : .title)
    x = DisplayWidth.of(qlabel)
    g.fill(row: row, column: x, height: 1, width: s.columns - x, role: .input)
    let q = s.query.string
    if q.isEmpty && s.focus != .query {
        g.put("type a query (Esc in a pane focuses it)", row: row, column: x, role: .dim)
    } else {
        g.put(q, row: row, column: x, role: .input, width: s.columns - x - 3)
    }
    if s.pendingRequests > 0 {
        g.put(String(spinnerFrames[s.spinner % spinnerFrames.count]), row: row, column: s.columns - 2, role: .accent)
    }
    if s.focus == .query {
        g.cursor = (row, min(s.columns - 1, x + DisplayWidth.of(String(s.query.text.prefix(s.query.cursor)))))
    }
    row += 1

    let wide = s.columns >= sideBySideColumns
    // A short screen keeps every pane's header and two hits: stacked panes need 3 rows each, and
    // when they would get fewer the key hints go first (? still opens help), then the token strip
    // (t shows the same weights); the status line stays.
    let stripPoolings: [Pooling] = wide || s.rows >= 30 ? s.poolings : [s.focus.pooling ?? (s.info.hasLatent ? .latent : .mean)]
    let stripGroups = wide ? 2 : 1
    let stripHeight = s.outcome == nil ? 1 : stripGroups * (1 + stripPoolings.count)
    let needed = wide ? 3 : 3 * s.poolings.count
    let hints = s.showHints && s.rows - 2 - 1 - row - stripHeight >= needed
    let footerRows = hints ? 2 : 1
    let showStrip = s.outcome == nil || s.rows - footerRows - 1 - row - stripHeight >= needed
    // Token strip.
    if let o = s.outcome {
        if showStrip { row += renderTokenStrip(o.trace, poolings: stripPoolings, row: row, column: 1, width: s.columns - 2, maxLines: stripGroups, grid: &g) }
    } else {
        g.put(s.indexing ?? (s.info.corpora.isEmpty ? "no corpus loaded" : "Type a query and press Enter (live re-ranking after a pause). ? for help."),
              row: row, column: 1, role: .dim)
        row += 1
    }
    // Panes, and under them a preview of the selected hit where rows would otherwise stay empty.
    let paneTop = row
    let poolings = s.poolings
    let allRows = s.rows - footerRows - 1 - paneTop
    let shown = min(s.k, s.outcome.map { o in poolings.map { o.hits[$0]?.count ?? 0 }.max() ?? 0 } ?? s.k)
    let fullPanes = (wide ? 1 : poolings.count) * (1 + 2 * shown)   // every hit with its text line
    let preview = s.showPreview && s.outcome != nil && allRows - fullPanes >= 4
    let paneRows = preview ? fullPanes : allRows
    if preview { renderPreview(s, row: paneTop + paneRows, height: min(allRows - fullPanes, 12), grid: &g) }
    if wide {
        let w = s.columns / poolings.count
        for (i, p) in poolings.enumerated() {
            let width = i == poolings.count - 1 ? s.columns - w * i : w - 1
            renderPane(s, p, row: paneTop, column: i * w, height: paneRows, width: width, grid: &g)
            if i < poolings.count - 1 {
                for r in paneTop..<(paneTop + paneRows) { g.put("│", row: r, column: i * w + w - 1, role: .border) }
            }
        }
    } else {
        let h = paneRows / poolings.count
        for (i, p) in poolings.enumerated() {
            let height = i == poolings.count - 1 ? paneRows - h * i : h
            renderPane(s, p, row: paneTop + i * h, column: 0, height: height, width: s.columns, grid: &g)
        }
    }
    // Footer: overlap and status.
    let orow = s.rows - footerRows - 1
    g.fill(row: orow, column: 0, height: 1, width: s.columns, role: .status)
    let helpTag = s.showHints && !hints && s.columns >= 60 ? "? help " : ""
    g.put(" " + overlapLine(s) + "   " + s.status, row: orow, column: 0, role: .status, width: s.columns - 1 - helpTag.count)
    g.put(helpTag, row: orow, column: s.columns - helpTag.count, role: .status)
    if hints {
        let line = s.focus.isTextInput
            ? " Enter search · Tab focus · ↑↓ " + (s.focus == .query ? "history" : "presets") + " · Ctrl-A/E/W/U/K edit · Esc panes · F1 help · Ctrl-C quit"
            : " ? help · Tab focus · j/k move · d doc · h heatmap · m map · t weights · c mask · / find · : command · Esc query · q quit"
        g.fill(row: s.rows - 1, column: 0, height: 1, width: s.columns, role: .hint)
        g.put(line, row: s.rows - 1, column: 0, role: .hint, width: s.columns)
    }
}

/// The selected hit of the focused pane (latent's while typing): its title, where each pooling
/// ranks it, and as much of its text as fits.
func renderPreview(_ s: ExplorerState, row: Int, height: Int, grid g: inout CellGrid) {
    guard let o = s.outcome else { return }
    let p = s.focus.pooling ?? s.poolings[0]
    guard let hits = o.hits[p], !hits.isEmpty else { return }
    let index = min(s.selected[p] ?? 0, hits.count - 1)
    let hit = hits[index]
    g.region(row: row, column: 0, height: height, width: s.columns, .hit(p, index))   // a click here acts on the hit shown
    g.fill(row: row, column: 0, height: 1, width: s.columns, role: .border)
    let ranks = "   ranked " + s.poolings.map { q in "\(q.rawValue) " + (o.ranks[q]?[hit.document].map { "#\($0 + 1)" } ?? "—") }.joined(separator: " · ")
    let more = "   d: whole document "
    var x = g.put(" PREVIEW ", row: row, column: 0, role: poolingRole(p))
    x += g.put(hit.title, row: row, column: x, role: .title, width: max(0, s.columns - x - DisplayWidth.of(ranks + more)))
    g.put(ranks, row: row, column: x, role: .dim, width: max(0, s.columns - x - DisplayWidth.of(more)))
    g.put(more, row: row, column: s.columns - DisplayWidth.of(more), role: .dim)
    let lines = DisplayWidth.wrap(hit.snippet, width: s.columns - 4)
    for (i, l) in lines.prefix(height - 1).enumerated() { g.put(l, row: row + 1 + i, column: 2, role: .normal) }
}

func overlapLine(_ s: ExplorerState) -> String {
    guard let o = s.outcome else { return "overlap@\(s.k): —" }
    let sets = Dictionary(uniqueKeysWithValues: s.poolings.map { p in (p, Set((o.hits[p] ?? []).map(\.document))) })
    var parts: [String] = []
    let ps = s.poolings
    for i in ps.indices { for j in (i + 1)..<ps.count { parts.append("\(ps[i].rawValue)∩\(ps[j].rawValue) \(sets[ps[i]]!.intersection(sets[ps[j]]!).count)") } }
    if ps.count == 3 { parts.append("all \(sets[ps[0]]!.intersection(sets[ps[1]]!).intersection(sets[ps[2]]!).count)") }
    return "overlap@\(s.k): " + parts.joined(separator: "  ")
}

/// Movement markers for a document of pooling `p` at `rank` relative to the other poolings.
func rankMarkers(_ s: ExplorerState, _ o: SearchOutcome, _ p: Pooling, document: Int, rank: Int) -> String {
    s.poolings.filter { $0 != p }.map { q in
        let letter = String(q.rawValue.prefix(1))
        guard let r = o.ranks[q]?[document] else { return letter + " new" }
        if r == rank { return letter + " =" }
        // ▲n: the other pooling ranks it n places higher (better) than this pane; ▼n: lower.
        return letter + (r < rank ? "▲\(rank - r)" : "▼\(r - rank)")
    }.joined(separator: " ")
}

func renderPane(_ s: ExplorerState, _ p: Pooling, row: Int, column: Int, height: Int, width: Int, grid g: inout CellGrid) {
    guard height > 0, width > 4 else { return }
    let focused = s.focus.pooling == p
    let title = " \(p.rawValue.uppercased()) " + (p == .latent ? "latent attention" : p == .mean ? "mean pool" : "EOS state")
    g.fill(row: row, column: column, height: 1, width: width, role: focused ? .focus : .normal)
    g.put(title, row: row, column: column, role: focused ? .focus : poolingRole(p), width: width)
    g.region(row: row, column: column, height: height, width: width, .pane(p))
    guard let o = s.outcome, let hits = o.hits[p] else { return }
    let count = s.filter.isEmpty ? "\(hits.count) hits " : "\(hits.filter(s.matchesFilter).count)/\(hits.count) match "
    if DisplayWidth.of(title) + DisplayWidth.of(count) < width { g.put(count, row: row, column: column + width - DisplayWidth.of(count), role: .dim) }
    // Two lines a hit (title, then text) when every hit fits so; when they fit on one line each
    // with rows to spare, the first hits get their text line until the rows run out; otherwise
    // one line each, scrolled around the selection.
    let avail = height - 1
    let visible: Int, withText: Int
    if avail >= 2 * min(hits.count, s.k) { visible = max(1, avail / 2); withText = visible }
    else if avail >= hits.count { visible = hits.count; withText = avail - hits.count }
    else { visible = max(1, avail); withText = 0 }
    let sel = s.selected[p] ?? 0
    let first = max(0, min(sel - visible / 2, hits.count - visible))
    var r = row + 1
    for (i, hit) in hits.enumerated().dropFirst(first).prefix(visible) {
        let linesPer = i - first < withText ? 2 : 1
        defer { r += linesPer }
        let isSel = focused && i == sel
        g.region(row: r, column: column, height: linesPer, width: width, .hit(p, i))
        let role: Role = isSel ? .selected : s.matchesFilter(hit) ? .normal : .dim
        if isSel { g.fill(row: r, column: column, height: linesPer, width: width, role: .selected) }
        let markers = rankMarkers(s, o, p, document: hit.document, rank: i)
        let bar = scoreBar(hit.score, width: 5)
        let head = String(format: "%2d %.3f ", i + 1, hit.score)
        var x = column
        x += g.put(head, row: r, column: x, role: isSel ? .selected : .accent)
        x += g.put(bar + " ", row: r, column: x, role: isSel ? .selected : poolingRole(p))
        let mw = DisplayWidth.of(markers)
        let titleWidth = width - (x - column) - mw - 1
        // Untitled documents: the text flows from the title line onto the snippet line.
        let flowed = hit.title.isEmpty ? DisplayWidth.wrap(hit.snippet, width: max(1, titleWidth)) : []
        g.put(hit.title.isEmpty ? (flowed.first ?? "") : hit.title, row: r, column: x, role: role, width: max(0, titleWidth))
        if titleWidth > 4 { g.put(markers, row: r, column: column + width - mw, role: isSel ? .selected : .dim) }
        if linesPer == 2 {
            let second = hit.title.isEmpty ? flowed.dropFirst().joined(separator: " ") : hit.snippet
            g.put("   " + second, row: r + 1, column: column, role: isSel ? .selected : .dim, width: width)
        }
    }
}

/// Score bar in eighth blocks, `width` cells for [0, 1].
func scoreBar(_ v: Float, width: Int) -> String {
    let eighths = Int((max(0, min(1, v)) * Float(width * 8)).rounded())
    var s = String(repeating: "█", count: eighths / 8)
    let rem = eighths % 8
    if rem > 0 { s.append(["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"][rem]) }
    return s + String(repeating: " ", count: max(0, width - DisplayWidth.of(s)))
}

/// Token strip: pieces with, under each, a glyph + number per pooling. Wraps onto at
/// most `maxLines` groups. Returns the rows used.
@discardableResult
func renderTokenStrip(_ t: TracedText, poolings: [Pooling], row: Int, column: Int, width: Int, maxLines: Int, precise: Bool = false,
                      grid g: inout CellGrid) -> Int {
    let labelWidth = 7
    var r = row
    var x = column + labelWidth
    var lines = 1
    func labels(_ r: Int) {
        g.put("tokens", row: r, column: column, role: .dim)
        for (i, p) in poolings.enumerated() { g.put(p.rawValue, row: r + 1 + i, column: column, role: poolingRole(p)) }
    }
    labels(r)
    let rowsPerLine = 1 + poolings.count
    // When the strip cannot hold every token, the masked prefix (<s> and the instruction: no
    // share, only "·") folds into one cell, so the query's own tokens are what is seen.
    var tokens = t.tokens
    let minCell = precise ? 5 : 4
    let needed = tokens.reduce(0) { $0 + max(DisplayWidth.of($1.piece), minCell) + 1 }
    let prefix = tokens.prefix { !$0.pooled }.count
    if needed > (width - labelWidth) * maxLines && prefix >= 3 && prefix < tokens.count {
        tokens = [TraceToken(piece: "[\(prefix) masked]", pooled: false, share: [:])] + tokens.dropFirst(prefix)
    }
    // Glyphs are scaled to each pooling's largest share in the strip (once, not per token).
    let maxShare = Dictionary(uniqueKeysWithValues: poolings.map { p in (p, t.tokens.compactMap { $0.share[p] }.max() ?? 1) })
    var shown = 0
    for tok in tokens {
        let piece = tok.piece
        let w = max(DisplayWidth.of(piece), minCell) + 1
        if x + w > column + width {
            if lines >= maxLines { break }
            lines += 1
            r += rowsPerLine
            x = column + labelWidth
            labels(r)
        }
        g.put(piece, row: r, column: x, role: tok.pooled ? .normal : .masked)
        for (i, p) in poolings.enumerated() {
            if !tok.pooled {
                g.put("  · ", row: r + 1 + i, column: x, role: .masked)
            } else {
                let v = tok.share[p] ?? 0
                let norm = maxShare[p]! > 0 ? v / maxShare[p]! : 0
                g.put(String(heatGlyph(norm)) + formatShare(v, precise: precise), row: r + 1 + i, column: x, role: heatRole(norm))
            }
        }
        x += w
        shown += 1
    }
    if shown < tokens.count {
        g.put("+\(tokens.count - shown)", row: r, column: column + width - 4, role: .dim)
    }
    if t.truncated { g.put("truncated", row: row, column: column + width - 10, role: .error) }
    return lines * rowsPerLine
}

// MARK: - overlays

/// The help screen's entries: a label and what its keys do (one key group per string; a group
/// is never split across lines unless it is wider than the screen).
let helpEntries: [(label: String, groups: [String])] = [
    ("Anywhere", ["Ctrl-C quit", "F1 help", "Ctrl-L redraw", "Tab / Shift-Tab cycle focus"]),
    ("Query field", ["type", "Enter search (live re-ranking after a short pause)", "↑↓ Ctrl-P/N history",
                     "Ctrl-A/E home/end", "Ctrl-W delete word", "Ctrl-U/K kill to start/end", "Esc panes"]),
    ("Instruction", ["↑↓ cycle presets (NV-Embed, training tasks, none, custom)", "type: a custom one"]),
    ("Panes", ["j/k ↑↓ move", "g/G top/bottom", "Ctrl-D/U half page", "←→ other pane",
               "d / Enter document view", "h latent-attention heatmap", "m corpus map",
               "t what the token weights mean", "c toggle bidirectional/causal mask",
               "p preview of the selected hit: text and rank under each pooling (tall windows)",
               "/ find in the lists (n/N next/previous match, Esc in the prompt clears)",
               "Esc query", "i instruction", "H hide hints", "q quit"]),
    ("Mouse", ["click focuses a field or pane, selects a hit, opens the selected hit",
               "wheel moves the selection", "--no-mouse (or mouse = off in the config): none"]),
    ("Heatmap", ["n next head", "a average heads", "j/k scroll tokens", "Esc back"]),
    ("Map", ["p / Tab next pooling", "Esc back"]),
    ("Document", ["j/k scroll", "w weights: each token's part of the score ↔ its share of the text"]),
    ("Commands (:)", [":k N", ":corpus NAME", ":pooling latent|mean|eos", ":theme NAME",
                      ":export FILE (JSON: neighbours, shares, heatmap)", ":mask causal|bidirectional", ":live on|off", ":q"]),
    ("This screen", ["j/k ↑↓ scroll", "Space / PgDn, PgUp page", "Esc, ? or q close"]),
]

/// The help screen's lines for a terminal `width` columns wide: each entry's key groups joined
/// with " · " and wrapped under its label (labels in an 18-column gutter, or above their keys
/// when the screen is narrower than 50 columns; at most 100 columns in all), then the legend.
func helpLines(width: Int) -> [String] {
    let gutter = width >= 50 ? 18 : 0
    let room = min(82, max(10, width - 2 - (gutter == 0 ? 2 : gutter)))   // ≤ 100 columns in all: long lines read badly
    var out = ["Keys (Esc closes this)", ""]
    for (label, groups) in helpEntries {
        var lines: [String] = [], line = ""
        for group in groups {
            let candidate = line.isEmpty ? group : line + " · " + group
            if DisplayWidth.of(candidate) <= room || line.isEmpty { line = candidate; continue }
            lines.append(line)
            line = group
        }
        if !line.isEmpty { lines.append(line) }
        lines = lines.flatMap { DisplayWidth.of($0) <= room ? [$0] : DisplayWidth.wrap($0, width: room) }
        if gutter == 0 {
            out.append(label)
            out += lines.map { "  " + $0 }
        } else {
            for (i, l) in lines.enumerated() {
                out.append((i == 0 ? label : "").padding(toLength: gutter, withPad: " ", startingAt: 0) + l)
            }
        }
    }
    out.append("")
    out += DisplayWidth.wrap("Panes: rank, cosine score and bar, title; markers show where the other poolings rank the "
        + "same document (l/m/e ▲n: ranked n higher there, ▼n lower, = same, new: not in their top 100).", width: min(98, max(10, width - 2)))
    return out
}

/// The lines of the full-screen text view on show (help or the token-weights explainer).
func overlayTextLines(_ s: ExplorerState) -> [String]? {
    switch s.overlay {
    case .help: return helpLines(width: s.columns)
    case .definitions: return definitionLines(width: s.columns)
    default: return nil
    }
}
func textBodyRows(_ s: ExplorerState) -> Int { max(1, s.rows - 3) }   // rows 2 … rows − 2; the last row says where you are

/// Keeps scroll positions within what the current screen can show, so a key held past the end
/// (or `G`) takes one press back, not dozens. Called before each frame is drawn.
/// A position of 0 needs no limit, so the usual frame (nothing scrolled) costs nothing here.
public func clampScrolls(_ s: inout ExplorerState) {
    if s.helpScroll > 0, let lines = overlayTextLines(s) { s.helpScroll = min(s.helpScroll, max(0, lines.count - textBodyRows(s))) }
    if s.overlay == .heatmap { s.heatmapScroll = min(s.heatmapScroll, heatmapScrollLimit(s)) }
    if s.overlay == .document && s.documentScroll > 0 {   // its text's room depends on the token strip: lay it out to know
        var scratch = CellGrid(rows: s.rows, columns: s.columns)
        s.documentScroll = min(s.documentScroll, renderDocument(s, &scratch))
    }
}

/// The heatmap's last first-row: one row a token under two header rows and a footer.
func heatmapScrollLimit(_ s: ExplorerState) -> Int { max(0, (s.outcome?.trace.tokens.count ?? 0) - (s.rows - 4)) }

func renderHelp(_ s: ExplorerState, _ g: inout CellGrid) {
    renderHeader(s, &g, title: "help")
    renderScrolled(helpLines(width: s.columns), s, &g)
}

/// A full-screen text (its first line a title) from its `helpScroll`-th line, and when it does
/// not fit, a last row that says which lines are shown and how to scroll.
func renderScrolled(_ lines: [String], _ s: ExplorerState, _ g: inout CellGrid) {
    let bodyRows = textBodyRows(s)
    let start = min(s.helpScroll, max(0, lines.count - bodyRows))
    for (i, l) in lines.dropFirst(start).prefix(bodyRows).enumerated() {
        g.put(" " + l, row: 2 + i, column: 0, role: start + i == 0 ? .title : .normal, width: s.columns)
    }
    if lines.count > bodyRows {
        g.put(" lines \(start + 1)–\(min(lines.count, start + bodyRows)) of \(lines.count) · j/k scroll · Esc closes",
              row: s.rows - 1, column: 0, role: .hint, width: s.columns)
    }
}

/// The token-weights explainer's lines for a terminal `width` columns wide.
func definitionLines(width: Int) -> [String] {
    let text = """
    What the numbers under each token mean (docs/TRACES.md).

    Each pooling averages per-token vectors y_i over the pooled tokens (m_i = 1): p = Σ m_i y_i / Σ m_i, \
    then normalises p. A token's share is  share_i = m_i ⟨y_i, p⟩ / (Σm · |p|²).  The shares of one pooling \
    sum to 1; a negative share means the token pulls against the final direction.

    latent  y_i = the latent-attention block's output for token i (token i queries the learned latents).
    mean    y_i = the decoder's last hidden state of token i.
    eos     the state at the last position (</s>) alone: its share is 1, every other token's 0.

    Instruction tokens ("Instruct: …\\nQuery: ") are attended to but masked from the pool: shown dim with ·.
    The glyph ramp ▁▂▃▄▅▆▇█ is scaled to the largest share in the strip; the number is the share itself.

    Esc or t closes this.
    """
    return DisplayWidth.wrap(text, width: max(10, width - 4)).map { " " + $0 }
}

func renderDefinitions(_ s: ExplorerState, _ g: inout CellGrid) {
    renderHeader(s, &g, title: "token weights")
    renderScrolled(definitionLines(width: s.columns), s, &g)
}

func renderHeatmap(_ s: ExplorerState, _ g: inout CellGrid) {
    renderHeader(s, &g, title: "latent attention")
    guard let t = s.outcome?.trace, t.heads > 0, !t.tokens.isEmpty else {
        g.put(" Search first; the heatmap needs a model with a latent-attention block. Esc returns.", row: 2, column: 0, role: .dim)
        return
    }
    let head = s.heatmapHead.map { min($0, t.heads - 1) }
    let n = t.tokens.count
    // Latents ranked by attention mass over the pooled tokens.
    var mass = [Float](repeating: 0, count: t.latents)
    for i in 0..<n { for j in 0..<t.latents { mass[j] += t.probability(token: i, latent: j, head: head) } }
    let pieceWidth = min(16, max(6, t.tokens.map { DisplayWidth.of($0.piece) }.max() ?? 6)) + 1
    let cellWidth = 4
    let cols = max(1, (s.columns - pieceWidth - 22) / cellWidth)
    let top = mass.indices.sorted { mass[$0] > mass[$1] }.prefix(cols)
    let headLabel = head.map { "head \($0 + 1)/\(t.heads)" } ?? "average of \(t.heads) heads"
    g.put(" tokens × top \(top.count) of \(t.latents) latents by attention mass · \(headLabel) · n next head · a average · j/k scroll · Esc back",
          row: 1, column: 0, role: .title, width: s.columns)
    var x = pieceWidth
    for j in top {
        g.put(String(format: "%3d ", j), row: 2, column: x, role: .dim)
        x += cellWidth
    }
    g.put("  top latent", row: 2, column: x, role: .dim)
    var maxP: Float = 0
    for i in 0..<n { for j in top { maxP = max(maxP, t.probability(token: i, latent: j, head: head)) } }
    let visibleRows = s.rows - 4
    let start = min(s.heatmapScroll, heatmapScrollLimit(s))
    for (r, i) in (start..<n).prefix(visibleRows).enumerated() {
        let row = 3 + r
        let tok = t.tokens[i]
        g.put(DisplayWidth.pad(tok.piece, to: pieceWidth - 1), row: row, column: 0, role: tok.pooled ? .normal : .masked)
        var x = pieceWidth
        for j in top {
            let p = t.probability(token: i, latent: j, head: head)
            let v = maxP > 0 ? p / maxP : 0
            let glyph = heatGlyph(v)
            g.put(String(repeating: glyph, count: cellWidth - 1) + " ", row: row, column: x, role: heatRole(v))
            x += cellWidth
        }
        var best = 0
        for j in 0..<t.latents where t.probability(token: i, latent: j, head: head) > t.probability(token: i, latent: best, head: head) { best = j }
        g.put(String(format: "  #%d %.3f", best, t.probability(token: i, latent: best, head: head)) + (tok.pooled ? "" : "  (masked)"),
              row: row, column: x, role: .accent)
    }
}

/// Draws the document view; returns the furthest its text can scroll at this size (what
/// `clampScrolls` keeps `documentScroll` within).
@discardableResult
func renderDocument(_ s: ExplorerState, _ g: inout CellGrid) -> Int {
    renderHeader(s, &g, title: "document")
    guard let d = s.document else { return 0 }
    g.put(" " + d.title, row: 1, column: 0, role: .title, width: s.columns)
    // The token strip sits at the bottom, in as many groups (a row of pieces and one per pooling)
    // as leave the text at least three rows: two groups on a normal screen, one on a short one;
    // a caption above it says which weights it shows.
    let groupRows = 1 + s.poolings.count
    let groups = min(2, max(0, (s.rows - 5 - 3) / groupRows))
    let mostRow = s.rows - 5 - groups * groupRows - 1 >= 3   // a row for the heaviest tokens, if the text keeps three
    var stripRows = 0
    if let t = d.trace {
        let hasMatch = t.tokens.contains { !$0.match.isEmpty }
        let showMatch = hasMatch && s.documentShowsMatch
        var shown = t
        if showMatch { shown.tokens = t.tokens.map { TraceToken(piece: $0.piece, pooled: $0.pooled, share: $0.match) } }
        if groups > 0 {
            let top = s.rows - 2 - groups * groupRows
            stripRows = renderTokenStrip(shown, poolings: s.poolings, row: top, column: 1, width: s.columns - 2, maxLines: groups,
                                         precise: true, grid: &g)
            let caption: String
            if showMatch {
                let sums = s.poolings.map { p in "\(p.rawValue) " + String(format: "%.3f", t.tokens.reduce(Float(0)) { $0 + ($1.match[p] ?? 0) }) }
                caption = " each token's part of its score with the query (sums: " + sums.joined(separator: " · ") + ") · w: share of its own vector"
            } else {
                caption = " each token's share of the document's own vector (sums to 1)" + (hasMatch ? " · w: part of the score with the query" : "")
            }
            g.put(caption, row: top - (mostRow ? 2 : 1), column: 0, role: .dim, width: s.columns)
            stripRows += 1
            if mostRow {
                // The pieces that weigh most under the focused pane's pooling, summed over the
                // document wherever they occur ("×n": how often).
                let p = s.focus.pooling ?? s.poolings[0]
                let ranked = heaviestPieces(pieces: shown.tokens.map(\.piece), pooled: shown.tokens.map(\.pooled),
                                            values: shown.tokens.map { $0.share[p] ?? 0 }, limit: 12)
                var x = g.put(" most under \(p.rawValue): ", row: top - 1, column: 0, role: poolingRole(p))
                for e in ranked where x < s.columns {
                    let value = formatShare(e.sum, precise: true).trimmingCharacters(in: .whitespaces) + (e.count > 1 ? " ×\(e.count)" : "")
                    x += g.put(e.piece + " " + value + "   ", row: top - 1, column: x, role: .normal, width: s.columns - x)
                }
                stripRows += 1
            }
        }
    } else {
        g.put(" tracing…", row: s.rows - 2, column: 0, role: .dim)
    }
    let bodyRows = s.rows - 4 - stripRows
    let lines = DisplayWidth.wrap(d.text, width: s.columns - 2)
    let start = min(s.documentScroll, max(0, lines.count - bodyRows))
    for (i, l) in lines.dropFirst(start).prefix(bodyRows).enumerated() { g.put(" " + l, row: 2 + i, column: 0) }
    let range = lines.isEmpty ? "no text" : "lines \(start + 1)–\(min(lines.count, start + bodyRows)) of \(lines.count)"
    g.put(" \(range) · j/k scroll · w weights · Esc back", row: s.rows - 1, column: 0, role: .hint, width: s.columns)
    return max(0, lines.count - bodyRows)
}

/// Braille canvas: 2×4 dots per cell.
struct BrailleCanvas {
    let width: Int, height: Int
    var dots: [UInt8]
    var roles: [Role?]
    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        dots = Array(repeating: 0, count: width * height)
        roles = Array(repeating: nil, count: width * height)
    }
    mutating func plot(_ px: Int, _ py: Int, role: Role, priority: Bool) {
        guard px >= 0, py >= 0, px < width * 2, py < height * 4 else { return }
        let cx = px / 2, cy = py / 4
        let bits: [[UInt8]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
        dots[cy * width + cx] |= bits[py % 4][px % 2]
        if priority || roles[cy * width + cx] == nil { roles[cy * width + cx] = role }
    }
    func character(_ i: Int) -> Character { Character(Unicode.Scalar(0x2800 + UInt32(dots[i]))!) }
}

func renderMap(_ s: ExplorerState, _ g: inout CellGrid) {
    renderHeader(s, &g, title: "map")
    let p = s.mapPooling
    g.put(" Corpus projected to 2-D (PCA of the \(p.rawValue) vectors, all \(s.info.documentCounts.isEmpty ? 0 : s.info.documentCounts[s.corpus]) documents) · ◆ query · ● neighbours · p next pooling · Esc back",
          row: 1, column: 0, role: .title, width: s.columns)
    guard let m = s.map, m.pooling == p, !m.points.isEmpty else {
        g.put(" projecting…", row: 3, column: 0, role: .dim)
        return
    }
    let w = s.columns - 2, h = s.rows - 4
    var canvas = BrailleCanvas(width: w, height: h)
    var xs = m.points.map(\.x), ys = m.points.map(\.y)
    if let q = m.query { xs.append(q.x); ys.append(q.y) }
    let minX = xs.min()!, maxX = xs.max()!, minY = ys.min()!, maxY = ys.max()!
    func px(_ v: SIMD2<Float>) -> (Int, Int) {
        let x = Int((v.x - minX) / max(maxX - minX, 1e-9) * Float(w * 2 - 1))
        let y = Int((1 - (v.y - minY) / max(maxY - minY, 1e-9)) * Float(h * 4 - 1))
        return (x, y)
    }
    for pt in m.points { let (x, y) = px(pt); canvas.plot(x, y, role: .dim, priority: false) }
    let hits = s.outcome?.hits[p] ?? []
    var labels: [(Int, Int, String)] = []
    for (rank, hit) in hits.enumerated() where hit.document < m.points.count {
        let (x, y) = px(m.points[hit.document])
        canvas.plot(x, y, role: poolingRole(p), priority: true)
        if rank < 5 { labels.append((y / 4, x / 2, "\(rank + 1)")) }
    }
    for r in 0..<h { for c in 0..<w where canvas.dots[r * w + c] != 0 {
        g.put(String(canvas.character(r * w + c)), row: 2 + r, column: 1 + c, role: canvas.roles[r * w + c] ?? .dim)
    } }
    for (r, c, l) in labels { g.put(l, row: 2 + r, column: 1 + min(c + 1, w - 2), role: poolingRole(p)) }
    if let q = m.query {
        let (x, y) = px(q)
        g.put("◆", row: 2 + y / 4, column: 1 + x / 2, role: .query)
    }
    g.put(" \(hits.count) neighbours under \(p.rawValue) highlighted; numbers are ranks", row: s.rows - 1, column: 0, role: .hint, width: s.columns)
}
