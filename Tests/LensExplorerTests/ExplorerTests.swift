import Foundation
import Testing
import LensExplorer
import LensModel
@testable import LensTerminal

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func makeState(rows: Int = 40, columns: Int = 150, latent: Bool = true) -> ExplorerState {
    let info = SessionInfo(modelName: "test-model", parameters: 13_300_000, width: 256, hasLatent: latent, threads: 2,
                           corpora: ["sampler", "other"], documentCounts: [100, 50])
    var s = ExplorerState(info: info, presets: [
        InstructionPreset(name: "qa", task: "Given a question, retrieve passages"),
        InstructionPreset(name: "none", task: ""),
        InstructionPreset(name: "custom", task: ""),
    ])
    s.rows = rows
    s.columns = columns
    return s
}

func type(_ s: inout ExplorerState, _ text: String) -> [Reaction] {
    var out: [Reaction] = []
    for c in text { out += update(&s, .key(.character(c))) }
    return out
}

func outcome(id: Int, titles: [Pooling: [String]]) -> SearchOutcome {
    var hits: [Pooling: [Hit]] = [:]
    var ranks: [Pooling: [Int: Int]] = [:]
    for (p, ts) in titles {
        var list: [Hit] = []
        for (i, t) in ts.enumerated() {
            let doc = t.split(separator: "#").last.flatMap { Int($0) } ?? i
            list.append(Hit(document: doc, score: 0.9 - Float(i) * 0.05, title: t, snippet: "snippet of " + t))
        }
        hits[p] = list
        var r: [Int: Int] = [:]
        for (i, h) in list.enumerated() { r[h.document] = i }
        ranks[p] = r
    }
    let tokens = [TraceToken(piece: "<s>", pooled: false, share: [:]), TraceToken(piece: "▁Instruct", pooled: false, share: [:]),
                  TraceToken(piece: "▁hello", pooled: true, share: [.latent: 0.6, .mean: 0.5, .eos: 0]),
                  TraceToken(piece: "</s>", pooled: true, share: [.latent: 0.4, .mean: 0.5, .eos: 1])]
    var probs: [Float] = []
    for i in 0..<64 { probs.append(Float(i % 8 + 1) / 36) }
    return SearchOutcome(requestID: id, query: "hello", instruction: "Instruct: x\nQuery: ", mask: .bidirectional, hits: hits, ranks: ranks,
                         trace: TracedText(tokens: tokens, latentProbabilities: probs, heads: 2, latents: 8, truncated: false), milliseconds: 12)
}

@Test func typingAndEnterSendsASearchWithTheInstruction() {
    var s = makeState()
    #expect(type(&s, "hello").isEmpty)
    let r = update(&s, .key(.enter))
    guard case .search(let req)? = r.first else { Issue.record("no search"); return }
    #expect(req.query == "hello")
    #expect(req.instruction == "Instruct: Given a question, retrieve passages\nQuery: ")
    #expect(req.mask == .bidirectional && req.k == 10 && req.corpus == 0)
    #expect(s.pendingRequests == 1)
    #expect(s.query.history == ["hello"])
}

@Test func liveSearchFiresAfterTheDebounce() {
    var s = makeState()
    _ = type(&s, "hi")
    #expect(update(&s, .tick).isEmpty)
    let r = update(&s, .tick)
    #expect(r.count == 1)
    if case .search(let req)? = r.first { #expect(req.query == "hi") } else { Issue.record("expected a live search") }
    s.liveSearch = false
    _ = type(&s, "!")
    #expect(update(&s, .tick).isEmpty && update(&s, .tick).isEmpty)
}

@Test func resultsRenderInThreePanesWithOverlapAndMarkers() {
    var s = makeState()
    _ = type(&s, "hello")
    _ = update(&s, .key(.enter))
    _ = update(&s, .searchFinished(outcome(id: 1, titles: [.latent: ["alpha #1", "beta #2", "gamma #3"], .mean: ["beta #2", "alpha #1", "delta #4"], .eos: ["zeta #9"]])))
    #expect(s.pendingRequests == 0)
    let text = render(s).text
    #expect(text.contains("LATENT latent attention"))
    #expect(text.contains("MEAN mean pool"))
    #expect(text.contains("EOS EOS state"))
    #expect(text.contains("alpha #1"))
    #expect(text.contains("overlap@10: latent∩mean 2  latent∩eos 0  mean∩eos 0  all 0"))
    // alpha is 1st under latent and 2nd under mean: the latent pane marks it "m▼1" (mean ranks it one lower).
    #expect(text.contains("m▼1 e new"))
    // beta is 2nd under latent and 1st under mean: "m▲1".
    #expect(text.contains("m▲1 e new"))
    #expect(text.contains("▁hello"))
    #expect(text.contains("test-model (13.3M params, d=256)"))
}

@Test func slowSearchesTurnLiveRerankingOff() {
    var s = makeState()
    var o = outcome(id: 0, titles: [.latent: ["a #1"], .mean: ["a #1"], .eos: ["a #1"]])
    o.milliseconds = 900
    _ = update(&s, .searchFinished(o))
    #expect(!s.liveSearch)
    #expect(s.status.contains("live re-ranking off"))
}

@Test func staleResultsAreDropped() {
    var s = makeState()
    _ = type(&s, "a")
    _ = update(&s, .key(.enter))
    _ = update(&s, .key(.enter))
    _ = update(&s, .searchFinished(outcome(id: 2, titles: [.latent: ["new #1"], .mean: ["new #1"], .eos: ["new #1"]])))
    _ = update(&s, .searchFinished(outcome(id: 1, titles: [.latent: ["old #1"], .mean: ["old #1"], .eos: ["old #1"]])))
    #expect(s.outcome?.requestID == 2)
}

@Test func instructionPresetsAndCustomText() {
    var s = makeState()
    _ = update(&s, .key(.tab))
    #expect(s.focus == .instruction)
    _ = update(&s, .key(.down))
    #expect(s.presets[s.preset].name == "none")
    #expect(s.instructionPrefix == "")
    // Dropping the instruction is shown for what it is (docs/EVAL.md measures what it costs).
    #expect(render(s).text.contains("(none: the query is embedded like a passage; NV-Embed expects an instruction)"))
    _ = type(&s, "find code")
    #expect(s.presets[s.preset].name == "custom")
    #expect(s.instructionPrefix == "Instruct: find code\nQuery: ")
    let text = render(s).text
    #expect(text.contains("[custom ↕] find code"))
}

@Test func readlineEditingKeys() {
    var f = TextField("hello big world")
    f.deleteWord()
    #expect(f.string == "hello big ")
    f.home(); f.right(); f.insert("X")
    #expect(f.string == "hXello big ")
    f.killToEnd()
    #expect(f.string == "hX")
    f.end(); f.insert(" 한국어 👋"); f.killToStart()
    #expect(f.string.isEmpty)
    var h = TextField()
    h.set("one"); h.commit(); h.set("two"); h.commit(); h.set("draft")
    h.historyPrevious(); #expect(h.string == "two")
    h.historyPrevious(); #expect(h.string == "one")
    h.historyNext(); h.historyNext(); #expect(h.string == "draft")
}

@Test func maskToggleRecomputesAndWarns() {
    var s = makeState()
    _ = type(&s, "q")
    _ = update(&s, .key(.escape))
    let r = update(&s, .key(.character("c")))
    #expect(s.mask == .causal)
    #expect(s.status.contains("trained bidirectional"))
    if case .search(let req)? = r.first { #expect(req.mask == .causal) } else { Issue.record("no search after mask toggle") }
    #expect(render(s).text.contains("mask causal"))
}

@Test func commandLine() {
    var s = makeState()
    _ = update(&s, .key(.escape))
    _ = update(&s, .key(.character(":")))
    for c in "k 20" { _ = update(&s, .key(.character(c))) }
    #expect(render(s).text.contains(":k 20"))
    _ = update(&s, .key(.enter))
    #expect(s.k == 20 && s.commandLine == nil)
    #expect(runCommand(&s, "corpus other") == [.switchCorpus(1)])
    #expect(s.corpus == 1)
    _ = runCommand(&s, "frobnicate")
    #expect(s.status.hasPrefix("unknown command"))
    #expect(runCommand(&s, "theme light") == [.setTheme("light")])
    _ = runCommand(&s, "export /tmp/x.json")
    #expect(s.status.contains("search first"))
}

@Test func layoutAdaptsToSize() {
    var s = makeState(rows: 20, columns: 60)
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: ["a #1"], .mean: ["b #2"], .eos: ["c #3"]])))
    let narrow = render(s)
    // Stacked: each pane title on its own row, starting at column 0.
    let lines = narrow.text.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.contains { $0.hasPrefix(" LATENT") } && lines.contains { $0.hasPrefix(" MEAN") } && lines.contains { $0.hasPrefix(" EOS") })
    s.rows = 60; s.columns = 200
    let wide = render(s).text.split(separator: "\n")
    #expect(wide.contains { $0.contains("LATENT") && $0.contains("MEAN") && $0.contains("EOS") })
    s.rows = 8; s.columns = 30
    #expect(render(s).text.contains("Terminal too small"))
    // Every line of the message stays whole down to 20 columns (a narrow split pane).
    s.rows = 6; s.columns = 20
    let small = render(s).text
    for line in ["Terminal too small", "20×6, needs 40×12", "Enlarge the window", "or press q to quit"] {
        #expect(small.contains(line), "\(line)")
    }
}

/// The help screen wraps to the terminal and scrolls: at 80×24 (where it used to be cut at the
/// right edge and the bottom) every key group is on screen somewhere, no line is wider than the
/// terminal, and `G` then `k` moves one line up from the end, not from past it.
@Test func helpWrapsToTheTerminalAndScrolls() {
    for (rows, columns) in [(24, 80), (12, 40), (60, 200)] {
        var s = makeState(rows: rows, columns: columns)
        _ = update(&s, .key(.function(1)))
        #expect(s.overlay == .help)
        var seen = "", previous = ""
        for _ in 0..<80 {
            clampScrolls(&s)
            let screen = render(s).text
            for line in screen.split(separator: "\n") { #expect(DisplayWidth.of(String(line)) <= columns, "\(columns): \(line)") }
            seen += screen
            if screen == previous { break }
            previous = screen
            _ = update(&s, .key(.character("j")))
        }
        let flat = seen.replacingOccurrences(of: "\n", with: " ").split(separator: " ").joined(separator: " ")
        for (label, groups) in helpEntries {
            #expect(flat.contains(label), "\(columns): \(label)")
            for g in groups { #expect(flat.contains(g.split(separator: " ").joined(separator: " ")), "\(columns)×\(rows): \(g)") }
        }
        #expect(flat.contains("new: not in their top 100)."))
    }
    var s = makeState(rows: 24, columns: 80)
    _ = update(&s, .key(.function(1)))
    clampScrolls(&s)
    #expect(render(s).text.contains("lines 1–21 of"))
    _ = update(&s, .key(.character("G")))
    clampScrolls(&s)
    let end = s.helpScroll
    #expect(end == helpLines(width: 80).count - 21)
    _ = update(&s, .key(.character("k")))
    #expect(s.helpScroll == end - 1)
    _ = update(&s, .key(.escape))
    #expect(s.overlay == .none)
    // The token-weights explainer scrolls the same way on a small screen, from its top each time.
    s = makeState(rows: 14, columns: 44)
    s.focus = .latent
    _ = update(&s, .key(.character("t")))
    #expect(s.overlay == .definitions)
    clampScrolls(&s)
    #expect(render(s).text.contains("lines 1–11 of"))
    _ = update(&s, .key(.character("G")))
    clampScrolls(&s)
    #expect(render(s).text.contains("Esc or t closes this."))
    _ = update(&s, .key(.character("t")))
    _ = update(&s, .key(.character("t")))
    #expect(s.overlay == .definitions && s.helpScroll == 0)
}

/// A pane that fits its hits one line each with rows to spare gives those rows to the top hits'
/// text lines (the title alone says little for a Debian package or a docs section); a pane
/// that fits two lines a hit shows every text line.
@Test func spareRowsGoToTheTopHitsText() {
    let titles = (1...10).map { "doc\($0) #\($0)" }
    func shown(rows: Int) -> (titles: [String], withText: [String]) {
        var s = makeState(rows: rows, columns: 120)
        _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: titles, .mean: titles, .eos: titles])))
        let text = render(s).text
        return (titles.filter { text.contains($0 + " ") }, titles.filter { text.contains("snippet of " + $0) })
    }
    let tight = shown(rows: 28)
    #expect(tight.titles == titles)
    #expect(!tight.withText.isEmpty && tight.withText.count < titles.count)
    #expect(tight.withText == Array(titles.prefix(tight.withText.count)))
    #expect(shown(rows: 60).withText == titles)
}

/// The smallest screen still compares the poolings: every pane keeps its header and top hit
/// (key hints, then the token strip, give way), and the document view keeps rows for the text
/// however long the document's token strip is.
@Test func smallestScreenKeepsEveryPaneAndTheDocumentText() {
    var s = makeState(rows: minimumRows, columns: minimumColumns)
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: ["a #1", "a2 #4"], .mean: ["b #2", "b2 #5"], .eos: ["c #3", "c2 #6"]])))
    var t = render(s).text
    for title in ["a #1", "b #2", "c #3"] { #expect(t.contains(title), "\(title)") }
    #expect(!t.contains("Enter search"))
    s.rows = 40
    t = render(s).text
    #expect(t.contains("a2 #4") && t.contains("▁hello") && t.contains("Enter search"))   // room again: all back

    s.rows = minimumRows
    _ = update(&s, .key(.escape))
    _ = update(&s, .key(.character("d")))
    let pieces = (0..<80).map { TraceToken(piece: "▁w\($0)", pooled: true, share: [.latent: 0.01, .mean: 0.01, .eos: 0]) }
    let long = TracedText(tokens: pieces, latentProbabilities: [], heads: 0, latents: 0, truncated: false)
    let words = (0..<80).map { "w\($0)" }.joined(separator: " ")
    _ = update(&s, .documentLoaded(OpenDocument(index: 1, title: "Doc title", text: words, trace: long)))
    let lines = render(s).text.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines[2].hasPrefix(" w0 w1 w2") && lines[4].contains("w"))   // text rows under the title, above the strip
    #expect(lines.last?.hasPrefix(" lines 1–3 of 9 ") == true, "\(lines)")
    #expect(lines.contains { $0.hasPrefix(" tokens ▁w0") })
}

/// `/` finds text in the lists (tui.md convention 4): the selection follows the first match as
/// it is typed, n/N step through matches with wrap-around, other hits dim, each pane counts its
/// matches, the find outlives a new search, and Esc in the prompt clears it.
@Test func findMovesBetweenMatchesAndDimsTheRest() {
    var s = makeState()
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: ["alpha #1", "beta #2", "gamma #3", "Älphabet #4"], .mean: ["beta #2", "alpha #1"], .eos: ["zeta #9"]])))
    s.focus = .mean
    _ = update(&s, .key(.character("/")))
    #expect(s.findLine != nil)
    _ = type(&s, "ALPHA")
    #expect(s.filter == "ALPHA" && s.selected[.mean] == 1)          // the first match in the focused pane
    #expect(s.status.hasPrefix("/ALPHA: 2 latent · 1 mean · 0 eos"))  // case and accents ignored
    #expect(render(s).line(s.rows - 1).hasPrefix("/ALPHA"))
    _ = update(&s, .key(.enter))
    #expect(s.findLine == nil && s.filter == "ALPHA")
    s.focus = .latent
    for expected in [3, 0, 3] { _ = update(&s, .key(.character("n"))); #expect(s.selected[.latent] == expected) }
    _ = update(&s, .key(.character("N")))
    #expect(s.selected[.latent] == 0)
    let g = render(s)
    #expect(g.text.contains("2/4 match") && g.text.contains("1/2 match") && g.text.contains("0/1 match"))
    func role(of title: String) -> Role? {
        for r in 0..<g.rows { if let c = g.line(r).range(of: title) { return g[r, g.line(r).distance(from: g.line(r).startIndex, to: c.lowerBound)].role } }
        return nil
    }
    #expect(role(of: "beta #2") == .dim && role(of: "gamma #3") == .dim && role(of: "Älphabet #4") == .normal)
    // A new search keeps the find and counts again.
    _ = update(&s, .searchFinished(outcome(id: 5, titles: [.latent: ["one #5", "alpha two #6"], .mean: ["x #7"], .eos: ["y #8"]])))
    #expect(s.status.hasPrefix("/ALPHA: 1 latent · 0 mean · 0 eos") && s.selected[.latent] == 1)
    _ = update(&s, .key(.character("/")))
    _ = update(&s, .key(.escape))
    #expect(s.filter.isEmpty && s.findLine == nil && render(s).text.contains("2 hits"))
}

/// Rows the panes leave empty hold a preview of the selected hit: its title, where every pooling
/// ranks it, its text; `p` toggles it, and a window without spare rows never shows it.
@Test func previewOfTheSelectedHitUsesSpareRows() throws {
    let titles = (1...10).map { "doc\($0) #\($0)" }
    var s = makeState(rows: 48, columns: 160)
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: titles, .mean: Array(titles.reversed()), .eos: Array(titles.prefix(3))])))
    s.focus = .latent
    _ = update(&s, .key(.character("j")))
    var t = render(s).text
    #expect(t.contains("PREVIEW doc2 #2   ranked latent #2 · mean #9 · eos #2"), "\(t)")
    #expect(t.contains("  snippet of doc2 #2"))
    _ = update(&s, .key(.character("G")))
    let g = render(s)
    #expect(g.text.contains("PREVIEW doc10 #10   ranked latent #10 · mean #1 · eos —"))
    let at = try #require(position(of: "PREVIEW", in: g))
    #expect(g.target(row: at.row + 1, column: 10) == .hit(.latent, 9))   // a click on the preview acts on its hit
    _ = update(&s, .key(.character("p")))
    t = render(s).text
    #expect(!t.contains("PREVIEW") && t.contains("preview off"))
    _ = update(&s, .key(.character("p")))
    s.rows = 34; s.columns = 120                     // every spare row goes to the hits' text lines
    #expect(!render(s).text.contains("PREVIEW"))
    _ = update(&s, .searchFinished(outcome(id: 1, titles: [.latent: ["x #1", "y #2"], .mean: ["y #2"], .eos: ["x #1"]])))
    #expect(render(s).text.contains("PREVIEW"))     // a short list leaves rows spare in the same window
}

/// The document view shows which tokens made the match: each token's part of the score with
/// the query (the caption gives their sums, the scores), and `w` switches to the token's share of
/// the document's own vector.
@Test func documentViewShowsEachTokensPartOfTheMatch() {
    var s = makeState(rows: 40, columns: 150)
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: ["a #1"], .mean: ["a #1"], .eos: ["a #1"]])))
    _ = update(&s, .key(.escape))
    _ = update(&s, .key(.character("d")))
    let tokens = [TraceToken(piece: "▁alpha", pooled: true, share: [.latent: 0.7, .mean: 0.6, .eos: 0], match: [.latent: 0.25, .mean: 0.2, .eos: 0]),
                  TraceToken(piece: "</s>", pooled: true, share: [.latent: 0.3, .mean: 0.4, .eos: 1], match: [.latent: 0.125, .mean: 0.1, .eos: 0.5])]
    _ = update(&s, .documentLoaded(OpenDocument(index: 1, title: "Doc", text: "alpha", trace: TracedText(tokens: tokens, latentProbabilities: [], heads: 0, latents: 0, truncated: false))))
    var t = render(s).text
    #expect(t.contains("part of its score with the query (sums: latent 0.375 · mean 0.300 · eos 0.500)"))
    #expect(t.contains(".25") && !t.contains(".70"))
    #expect(t.contains("most under latent: ▁alpha .25   </s>"))   // the heaviest pieces, summed over the document
    _ = update(&s, .key(.character("w")))
    t = render(s).text
    #expect(t.contains("share of the document's own vector") && t.contains(".70") && !t.contains(".25"))
}

/// A strip too narrow for every token folds the masked prefix (<s> and the instruction, which
/// carry no share) into one cell, so the query's own tokens and weights stay in view.
@Test func narrowStripFoldsTheMaskedInstruction() {
    var s = makeState(rows: 24, columns: 70)
    var o = outcome(id: 0, titles: [.latent: ["a #1"], .mean: ["a #1"], .eos: ["a #1"]])
    let masked = (0..<16).map { TraceToken(piece: "▁instr\($0)", pooled: false, share: [:]) }
    o.trace.tokens = masked + [TraceToken(piece: "▁query", pooled: true, share: [.latent: 0.7, .mean: 0.6, .eos: 0]),
                               TraceToken(piece: "</s>", pooled: true, share: [.latent: 0.3, .mean: 0.4, .eos: 1])]
    _ = update(&s, .searchFinished(o))
    var t = render(s).text
    #expect(t.contains("tokens [16 masked] ▁query") && t.contains(".70") && !t.contains("▁instr0"))
    s.columns = 400                                  // room for all: nothing folds
    t = render(s).text
    #expect(t.contains("▁instr0") && !t.contains("masked]"))
}

@Test func wideCharactersNeverShiftColumns() {
    var s = makeState(rows: 30, columns: 150)
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: ["한국어 제목 👋 문서 #1", "plain #2"], .mean: ["plain #2"], .eos: ["한국어 #1"]])))
    let g = render(s)
    for r in 0..<g.rows {
        var w = 0
        for c in 0..<g.columns { w += g[r, c].text.isEmpty ? 0 : DisplayWidth.of(g[r, c].text) }
        #expect(w == g.columns, "row \(r) spans \(w) columns")
    }
    // The pane separators stay in one column on every row.
    let sep = (0..<g.columns).filter { g[12, $0].text == "│" }
    for r in 8..<20 { for c in sep { #expect(g[r, c].text == "│", "row \(r)") } }
}

@Test func overlaysRender() {
    var s = makeState()
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: ["a #1"], .mean: ["b #2"], .eos: ["c #3"]])))
    _ = update(&s, .key(.escape))
    _ = update(&s, .key(.character("h")))
    var t = render(s).text
    #expect(t.contains("tokens × top") && t.contains("average of 2 heads") && t.contains("▁hello"))
    _ = update(&s, .key(.character("n")))
    #expect(render(s).text.contains("head 1/2"))
    // A few tokens fit the screen: j does not wind the scroll up past what k can undo at once.
    for _ in 0..<20 { _ = update(&s, .key(.character("j"))); clampScrolls(&s) }
    #expect(s.heatmapScroll == max(0, s.outcome!.trace.tokens.count - (s.rows - 4)))
    _ = update(&s, .key(.escape))
    _ = update(&s, .key(.character("t")))
    #expect(render(s).text.contains("share_i = m_i"))
    _ = update(&s, .key(.escape))
    _ = update(&s, .key(.character("?")))
    t = render(s).text
    #expect(t.contains("Ctrl-W delete word") && t.contains(":corpus NAME"))
    _ = update(&s, .key(.escape))
    let r = update(&s, .key(.character("m")))
    #expect(r == [.loadMap(corpus: 0, pooling: .latent, query: nil)])
    _ = update(&s, .mapLoaded(CorpusMap(pooling: .latent, points: (0..<100).map { SIMD2(Float($0 % 10), Float($0 / 10)) }, query: SIMD2(5, 5))))
    t = render(s).text
    #expect(t.contains("◆"))
    #expect(t.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) })
    _ = update(&s, .key(.escape))
    s.focus = .latent
    let d = update(&s, .key(.character("d")))
    #expect(d == [.loadDocument(corpus: 0, index: 1, mask: .bidirectional)])
    _ = update(&s, .documentLoaded(OpenDocument(index: 1, title: "Doc title", text: "Full text of the document.", trace: s.outcome!.trace)))
    t = render(s).text
    #expect(t.contains("Doc title") && t.contains("Full text of the document.") && t.contains("▁hello"))
    // Scrolling past the end of a short text and back: one k press moves it again.
    for _ in 0..<30 { _ = update(&s, .key(.character("j"))); clampScrolls(&s) }
    #expect(s.documentScroll == 0)
    _ = update(&s, .documentLoaded(OpenDocument(index: 1, title: "Doc title", text: (1...2000).map { "word\($0)" }.joined(separator: " "), trace: s.outcome!.trace)))
    for _ in 0..<500 { _ = update(&s, .key(.character("j"))); clampScrolls(&s) }
    let end = s.documentScroll
    #expect(end > 0 && render(s).text.contains("word2000"))
    _ = update(&s, .key(.character("k"))); clampScrolls(&s)
    #expect(s.documentScroll == end - 1 && !render(s).text.contains("word2000"))
}

final class FakeBackend: ExplorerBackend {
    var performed: [Reaction] = []
    func perform(_ reaction: Reaction, state: ExplorerState, post: @escaping @Sendable (Action) -> Void) {
        performed.append(reaction)
        if case .search(let req) = reaction {
            post(.searchFinished(outcome(id: req.id, titles: [.latent: ["result for \(req.query) #1"], .mean: ["m #2"], .eos: ["e #3"]])))
        }
    }
}

@Test func runLoopWithAMemoryTerminal() {
    let keys: [Key?] = "fox".map { .character($0) } + [.enter, nil, nil, .escape, .character("j"), .character("q")]
    let term = MemoryTerminal(rows: 30, columns: 120, script: keys)
    let backend = FakeBackend()
    let loop = ExplorerLoop(state: makeState(), terminal: term, backend: backend, themeLoader: { _ in Theme.fallback })
    loop.run()
    #expect(term.restored)
    #expect(backend.performed.contains { if case .search(let r) = $0 { return r.query == "fox" } else { return false } })
    #expect(term.frames.contains { $0.text.contains("result for fox #1") })
    #expect(loop.state.quit)
}

/// Where `text` first appears on screen starting in columns `from..<to`: (row, column).
func position(of text: String, in g: CellGrid, from: Int = 0, to: Int? = nil) -> (row: Int, column: Int)? {
    for r in 0..<g.rows {
        for c in from..<(to ?? g.columns) where g.line(r).count > c {
            let line = g.line(r)
            if line[line.index(line.startIndex, offsetBy: c)...].hasPrefix(text) { return (r, c) }
        }
    }
    return nil
}

/// A left click focuses the field or pane under it and selects the hit; a click on the selected
/// hit opens it, as Enter does. The screen records what is where; the run loop turns a click
/// into that action.
@Test func clicksFocusSelectAndOpen() throws {
    var s = makeState(rows: 30, columns: 120)
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: ["a #1", "b #2"], .mean: ["b #2", "c #3"], .eos: ["c #3"]])))
    let g = render(s)
    let c3 = try #require(position(of: "c #3", in: g, from: 40, to: 80))   // the mean pane's second hit
    #expect(g.target(row: c3.row, column: c3.column) == .hit(.mean, 1))
    #expect(g.target(row: c3.row, column: 1) == .hit(.latent, 1))          // same row, latent pane
    #expect(g.target(row: 2, column: 30) == .field(.query) && g.target(row: 1, column: 30) == .field(.instruction))
    let header = try #require(position(of: "MEAN mean pool", in: g))
    #expect(g.target(row: header.row, column: header.column) == .pane(.mean))   // the pane's title row
    #expect(update(&s, .click(.hit(.mean, 1))) == [])
    #expect(s.focus == .mean && s.selected[.mean] == 1 && s.overlay == .none)
    #expect(update(&s, .click(.hit(.mean, 1))) == [.loadDocument(corpus: 0, index: 3, mask: .bidirectional)])
    #expect(s.overlay == .document)
    #expect(update(&s, .click(.field(.query))) == [] && s.focus == .mean)   // views take no clicks
    _ = update(&s, .key(.escape))
    _ = update(&s, .click(.field(.query)))
    #expect(s.focus == .query)

    // Through the run loop: the click lands where FakeBackend's mean hit is drawn.
    var shown = makeState(rows: 30, columns: 120)
    _ = type(&shown, "fox")
    _ = update(&shown, .key(.enter))
    _ = update(&shown, .searchFinished(outcome(id: 1, titles: [.latent: ["result for fox #1"], .mean: ["m #2"], .eos: ["e #3"]])))
    let m2 = try #require(position(of: "m #2", in: render(shown)))
    let click = Key.mouse(row: m2.row, column: m2.column, button: .left)
    let keys: [Key?] = "fox".map { .character($0) } + [.enter, nil, nil, click, click, nil, .escape, .character("q")]
    let term = MemoryTerminal(rows: 30, columns: 120, script: keys)
    let backend = FakeBackend()
    let loop = ExplorerLoop(state: makeState(), terminal: term, backend: backend, themeLoader: { _ in Theme.fallback })
    loop.run()
    #expect(backend.performed.contains(.loadDocument(corpus: 0, index: 2, mask: .bidirectional)))
}

@Test func themesParseAndErrorsNameTheLine() throws {
    for name in ["dark", "light", "16color", "monochrome"] {
        let t = try Theme.load(name, searchFolders: [repoRoot.appendingPathComponent("Themes").path])
        #expect(t.name == name)
        #expect(t.styles[.heat4] != nil)
    }
    #expect(throws: ThemeError.self) { _ = try Theme.parse("focus = chartreuse", source: "x.theme") }
    do { _ = try Theme.parse("name = a\nbogus = red", source: "x.theme") } catch let e as ThemeError { #expect(e.line == 2) }
    let mono = try Theme.load("dark", searchFolders: [repoRoot.appendingPathComponent("Themes").path]).monochrome
    #expect(mono.styles.values.allSatisfy { $0.foreground == .terminalDefault && $0.background == .terminalDefault })
}

@Test func keyDecoder() {
    let d = KeyDecoder(codes: .init(up: 0o403, down: 0o402, left: 0o404, right: 0o405, home: 0o406, end: 0o550, pageUp: 0o523, pageDown: 0o522,
                                    backspace: 0o407, delete: 0o512, enter: 0o527, backTab: 0o541, resize: 0o632, f1: 0o411, mouse: 0o631))
    #expect(d.decode(0x1B, function: false, next: { (UInt32(UInt8(ascii: "b")), false) }) == .alt("b"))
    #expect(d.decode(0x1B, function: false, next: { nil }) == .escape)
    #expect(d.decode(0x17, function: false, next: { nil }) == .control("w"))
    #expect(d.decode(0x0D, function: false, next: { nil }) == .enter)
    #expect(d.decode(0xD55C, function: false, next: { nil }) == .character("한"))
    #expect(d.decode(0o403, function: true, next: { nil }) == .up)
    #expect(d.decode(0o412, function: true, next: { nil }) == .function(2))
}

@Test func displayWidths() {
    #expect(DisplayWidth.of("abc") == 3)
    #expect(DisplayWidth.of("한국어") == 6)
    #expect(DisplayWidth.of("👋") == 2)
    #expect(DisplayWidth.of("e\u{301}") == 1)
    #expect(DisplayWidth.truncate("한국어 텍스트", to: 5) == "한국…")
    #expect(DisplayWidth.wrap("aaa bbb ccc", width: 7) == ["aaa bbb", "ccc"])
}

/// The config file (tui.md convention 11): settings, key remaps, and every mistake named by
/// file and line.
@Test func configParsesRemapsAndNamesMistakes() throws {
    let c = try ExplorerConfig.parse("""
        # comment
        theme = light
        k = 20          # trailing comment
        mouse = off
        hints = no
        live = on
        map x = h
        map ctrl-n = j
        map F2 = ?
        map space = pgdn
        """, source: "cfg")
    #expect(c.theme == "light" && c.k == 20 && c.mouse == false && c.hints == false && c.live == true)
    #expect(c.keyMap == [.character("x"): .character("h"), .control("n"): .character("j"), .function(2): .character("?"), .character(" "): .pageDown])
    for (text, message) in [("k = 0", "cfg:1: k is a number from 1 to 100, not \"0\""),
                            ("\n\nmouse = maybe", "cfg:3: mouse is on or off, not \"maybe\""),
                            ("colour = red", "cfg:1: unknown setting \"colour\" (theme, k, mouse, hints, live, history, map KEY)"),
                            ("map xx = h", "cfg:1: unknown key name \"xx\""),
                            ("theme light", "cfg:1: expected KEY = VALUE"),
                            ("theme =", "cfg:1: theme has no value")] {
        #expect { _ = try ExplorerConfig.parse(text, source: "cfg") } throws: { e in "\(e)".hasPrefix(message) }
    }
    #expect(ExplorerConfig.folder(environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]) == "/x/latentlens")
    #expect(ExplorerConfig.folder(environment: ["HOME": "/h"]) == "/h/.config/latentlens")

    // Remaps act outside text fields only; Ctrl-C quits whatever they say.
    var s = makeState()
    var remap = ExplorerConfig()
    remap.keyMap = [.character("x"): .character("h"), .control("c"): .character("j"), .character("w"): .character("j")]
    remap.k = 7
    remap.apply(to: &s)
    #expect(s.k == 7)
    _ = update(&s, .searchFinished(outcome(id: 0, titles: [.latent: ["a #1", "b #2"], .mean: ["b #2"], .eos: ["c #3"]])))
    _ = type(&s, "wx")                           // typed into the query: no remap
    #expect(s.query.string == "wx" && s.overlay == .none)
    _ = update(&s, .key(.escape))                // to the panes
    _ = update(&s, .key(.character("w")))
    #expect(s.selected[.latent] == 1)            // w does what j does
    _ = update(&s, .key(.character("x")))
    #expect(s.overlay == .heatmap)               // x does what h does
    #expect(update(&s, .key(.control("c"))) == [.quit])
}

/// The query history survives the session: saved newest last, capped, one JSON string a line
/// (a query may hold any character); a damaged line is skipped, a missing file is no history.
@Test func queryHistoryRoundTripsAndSurvivesDamage() throws {
    let dir = NSTemporaryDirectory() + "ll-history-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state/latentlens/history"
    #expect(QueryHistory.load(path).isEmpty)
    let queries = ["gzip", "한국어 문서", "tab\there \"quoted\"", "line\nbreak"] + (0..<600).map { "q\($0)" }
    try QueryHistory.save(queries, to: path)
    let back = QueryHistory.load(path)
    #expect(back.count == QueryHistory.limit && back.last == "q599" && back.first == "q100")
    try QueryHistory.save(Array(queries.prefix(4)), to: path)
    #expect(QueryHistory.load(path) == Array(queries.prefix(4)))
    try (String(decoding: FileManager.default.contents(atPath: path)!, as: UTF8.self) + "not json\n\"ok\"\n").write(toFile: path, atomically: true, encoding: .utf8)
    #expect(QueryHistory.load(path) == Array(queries.prefix(4)) + ["ok"])
    #expect(QueryHistory.path(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"]) == "/s/latentlens/history")
    #expect(QueryHistory.path(environment: ["HOME": "/h"]) == "/h/.local/state/latentlens/history")
    // Loaded into the query field, Up brings the newest back.
    var s = makeState()
    s.query.history = QueryHistory.load(path)
    _ = update(&s, .key(.up))
    #expect(s.query.string == "ok")
}
