import LensModel

/// Everything that can happen to the explorer.
public enum Action: Equatable, Sendable {
    case key(Key)
    case resize(rows: Int, columns: Int)
    /// ~10 per second: spinner and debounce.
    case tick
    case searchFinished(SearchOutcome)
    case searchFailed(requestID: Int, message: String)
    case documentLoaded(OpenDocument)
    case mapLoaded(CorpusMap)
    case indexing(String?)
    case message(String)
    /// A left click on something the screen showed there (see `ClickTarget`).
    case click(ClickTarget)
}

/// What a mouse click landed on.
public enum ClickTarget: Equatable, Sendable {
    case hit(Pooling, Int)
    case pane(Pooling)
    case field(Focus)
}

/// A search the run loop should perform off the input thread.
public struct SearchRequest: Equatable, Sendable {
    public var id: Int
    public var query: String
    public var instruction: String
    public var mask: AttentionMask
    public var k: Int
    public var corpus: Int
    public init(id: Int, query: String, instruction: String, mask: AttentionMask, k: Int, corpus: Int) {
        self.id = id
        self.query = query
        self.instruction = instruction
        self.mask = mask
        self.k = k
        self.corpus = corpus
    }
}

/// Work the run loop does in response to an action.
public enum Reaction: Equatable, Sendable {
    case search(SearchRequest)
    case loadDocument(corpus: Int, index: Int, mask: AttentionMask)
    case loadMap(corpus: Int, pooling: Pooling, query: SearchRequest?)
    case switchCorpus(Int)
    case setTheme(String)
    case export(path: String)
    case redraw
    case quit
}

/// Debounce for live re-ranking: ticks (≈100 ms each) after the last keystroke.
public let liveSearchDelayTicks = 2
/// Above this search time, live re-ranking turns itself off.
public let liveSearchBudgetMilliseconds = 250.0

/// Applies an action; returns what the run loop must do.
public func update(_ s: inout ExplorerState, _ action: Action) -> [Reaction] {
    switch action {
    case let .resize(rows, columns):
        s.rows = rows
        s.columns = columns
        return [.redraw]
    case .tick:
        if s.pendingRequests > 0 { s.spinner &+= 1 }
        if let t = s.editTicks {
            if t + 1 >= liveSearchDelayTicks {
                s.editTicks = nil
                if s.liveSearch && !s.query.string.isEmpty { return [searchReaction(&s)] }
            } else {
                s.editTicks = t + 1
            }
        }
        return []
    case let .searchFinished(o):
        if o.requestID >= s.lastSentRequest { s.pendingRequests = 0 } else { s.pendingRequests = max(0, s.pendingRequests - 1) }
        guard o.requestID >= (s.outcome?.requestID ?? 0) else { return [] }   // stale
        let firstResults = s.outcome == nil
        s.outcome = o
        for p in Pooling.allCases { s.selected[p] = min(s.selected[p] ?? 0, max((o.hits[p]?.count ?? 1) - 1, 0)) }
        s.status = String(format: "%.0f ms", o.milliseconds)
        if s.liveSearch && o.milliseconds > liveSearchBudgetMilliseconds {
            // Too slow to follow keystrokes: Enter searches from now on.
            s.liveSearch = false
            s.status += " — live re-ranking off (a query takes longer than \(Int(liveSearchBudgetMilliseconds)) ms); Enter searches, :live on to force"
        }
        var r: [Reaction] = []
        if s.overlay == .map { r.append(.loadMap(corpus: s.corpus, pooling: s.mapPooling, query: currentRequest(s))) }
        if firstResults { s.selected = [.latent: 0, .mean: 0, .eos: 0] }
        if !s.filter.isEmpty {   // a find stays on across searches: where are its matches now?
            let timing = s.status
            findNext(&s, 0)
            s.status += " · " + timing
        }
        return r
    case let .searchFailed(id, message):
        if id >= s.lastSentRequest { s.pendingRequests = 0 }
        s.status = "error: " + message
        return []
    case let .documentLoaded(d):
        s.document = d
        return []
    case let .mapLoaded(m):
        s.map = m
        return []
    case let .indexing(text):
        s.indexing = text
        return []
    case let .click(target):
        guard s.overlay == .none, s.commandLine == nil, s.findLine == nil else { return [] }
        switch target {
        case .field(let f): s.focus = f
        case .pane(let p): s.focus = Focus.allCases.first { $0.pooling == p } ?? s.focus
        case let .hit(p, i):
            // A click selects; a click on the selected hit opens it, as Enter does.
            let focus = Focus.allCases.first { $0.pooling == p } ?? s.focus
            if s.focus == focus && s.selected[p] == i { return paneKey(&s, .enter) }
            s.focus = focus
            s.selected[p] = i
        }
        return []
    case let .message(m):
        s.status = m
        return []
    case let .key(k):
        return handleKey(&s, k)
    }
}

func currentRequest(_ s: ExplorerState) -> SearchRequest? {
    guard !s.query.string.isEmpty else { return nil }
    return SearchRequest(id: s.lastSentRequest, query: s.query.string, instruction: s.instructionPrefix, mask: s.mask, k: s.k, corpus: s.corpus)
}

func searchReaction(_ s: inout ExplorerState) -> Reaction {
    let id = s.nextRequestID
    s.nextRequestID += 1
    s.lastSentRequest = id
    s.pendingRequests += 1
    return .search(SearchRequest(id: id, query: s.query.string, instruction: s.instructionPrefix, mask: s.mask, k: s.k, corpus: s.corpus))
}

// MARK: - keys

func handleKey(_ s: inout ExplorerState, _ pressed: Key) -> [Reaction] {
    if pressed == .control("c") { s.quit = true; return [.quit] }   // whatever the remaps say
    let typing = s.commandLine != nil || s.findLine != nil || (s.overlay == .none && s.focus.isTextInput)
    let key = typing ? pressed : s.keyMap[pressed] ?? pressed
    // Always: Ctrl-L redraws, F1 help, resize handled by the loop.
    switch key {
    case .control("l"): return [.redraw]
    case .function(1): s.overlay = s.overlay == .help ? .none : .help; s.helpScroll = 0; return []
    default: break
    }
    if var cmd = s.commandLine { return commandKey(&s, &cmd, key) }
    if var find = s.findLine { return findKey(&s, &find, key) }
    if s.overlay != .none { return overlayKey(&s, key) }
    if s.focus.isTextInput, let r = textKey(&s, key) { return r }
    return paneKey(&s, key)
}

/// Keys inside the query or instruction field; nil when the key is not a text key.
func textKey(_ s: inout ExplorerState, _ key: Key) -> [Reaction]? {
    let isQuery = s.focus == .query
    var field = isQuery ? s.query : s.customInstruction
    var edited = false
    switch key {
    case .character(let c):
        if !isQuery && s.presets[s.preset].name != "custom" {
            // Typing in the instruction field starts a custom instruction.
            s.preset = s.presets.firstIndex { $0.name == "custom" } ?? s.preset
            field.set("")
        }
        field.insert(c); edited = true
    case .backspace: field.backspace(); edited = true
    case .delete, .control("d"): field.deleteForward(); edited = true
    case .left, .control("b"): field.left()
    case .right, .control("f"): field.right()
    case .home, .control("a"): field.home()
    case .end, .control("e"): field.end()
    case .control("u"): field.killToStart(); edited = true
    case .control("k"): field.killToEnd(); edited = true
    case .control("w"): field.deleteWord(); edited = true
    case .alt("b"): field.wordLeft()
    case .alt("f"): field.wordRight()
    case .up, .control("p"):
        if isQuery { field.historyPrevious(); edited = true } else { cyclePreset(&s, -1); return presetChanged(&s) }
    case .down, .control("n"):
        if isQuery { field.historyNext(); edited = true } else { cyclePreset(&s, 1); return presetChanged(&s) }
    case .enter:
        if isQuery { field.commit() }
        if isQuery { s.query = field } else { s.customInstruction = field }
        s.editTicks = nil
        return s.query.string.isEmpty ? [] : [searchReaction(&s)]
    case .escape:
        s.focus = .latent
        return []
    default:
        return nil
    }
    if isQuery { s.query = field } else { s.customInstruction = field }
    if edited { s.editTicks = 0 }
    return []
}

func cyclePreset(_ s: inout ExplorerState, _ d: Int) {
    s.preset = (s.preset + d + s.presets.count) % s.presets.count
}

func presetChanged(_ s: inout ExplorerState) -> [Reaction] {
    s.status = "instruction: " + s.presets[s.preset].name
    return s.query.string.isEmpty ? [] : [searchReaction(&s)]
}

/// Keys when a neighbour pane has focus (and the non-text global keys).
func paneKey(_ s: inout ExplorerState, _ key: Key) -> [Reaction] {
    switch key {
    case .tab: s.focus = Focus(rawValue: (s.focus.rawValue + 1) % Focus.allCases.count)!; skipMissingPane(&s, 1); return []
    case .backTab: s.focus = Focus(rawValue: (s.focus.rawValue + Focus.allCases.count - 1) % Focus.allCases.count)!; skipMissingPane(&s, -1); return []
    case .character("q"): s.quit = true; return [.quit]
    case .character("?"): s.overlay = .help; s.helpScroll = 0; return []
    case .character("/"):
        if s.focus.pooling == nil { s.focus = s.info.hasLatent ? .latent : .mean }
        s.findLine = TextField()
        return []
    case .character("n"): findNext(&s, 1)
    case .character("N"): findNext(&s, -1)
    case .character("i"): s.focus = .instruction; return []
    case .character(":"): s.commandLine = TextField(); return []
    case .character("c"): return toggleMask(&s)
    case .character("h"): s.overlay = .heatmap; s.heatmapScroll = 0; return []
    case .character("t"): s.overlay = .definitions; s.helpScroll = 0; return []
    case .character("H"): s.showHints.toggle(); return []
    case .character("p"):
        s.showPreview.toggle()
        s.status = "preview " + (s.showPreview ? "on (shown where the panes leave rows spare)" : "off")
        return []
    case .character("m"):
        s.overlay = .map
        s.mapPooling = s.focus.pooling ?? .latent
        return [.loadMap(corpus: s.corpus, pooling: s.mapPooling, query: currentRequest(s))]
    case .enter, .character("d"):
        guard let p = s.focus.pooling ?? .latent as Pooling?, let hits = s.outcome?.hits[p], !hits.isEmpty else { return [] }
        let hit = hits[min(s.selected[p] ?? 0, hits.count - 1)]
        s.overlay = .document
        s.documentScroll = 0
        s.document = OpenDocument(index: hit.document, title: hit.title, text: hit.snippet, trace: nil)
        return [.loadDocument(corpus: s.corpus, index: hit.document, mask: s.mask)]
    case .down, .character("j"): moveSelection(&s, 1)
    case .up, .character("k"): moveSelection(&s, -1)
    case .control("d"), .pageDown: moveSelection(&s, max(1, s.k / 2))
    case .control("u"), .pageUp: moveSelection(&s, -max(1, s.k / 2))
    case .character("g"), .home: moveSelection(&s, -10_000)
    case .character("G"), .end: moveSelection(&s, 10_000)
    case .left: s.focus = s.focus == .latent ? .latent : Focus(rawValue: max(Focus.latent.rawValue, s.focus.rawValue - 1))!
    case .right: s.focus = Focus(rawValue: min(Focus.eos.rawValue, max(Focus.latent.rawValue, s.focus.rawValue + 1)))!
    case .escape: s.focus = .query
    case .mouse(_, _, .wheelDown): moveSelection(&s, 1)
    case .mouse(_, _, .wheelUp): moveSelection(&s, -1)
    case .character(let c) where s.focus.isTextInput == false && c.isLetter == false && c.isNumber == false:
        break
    default: break
    }
    return []
}

func skipMissingPane(_ s: inout ExplorerState, _ dir: Int) {
    if s.focus == .latent && !s.info.hasLatent { s.focus = dir > 0 ? .mean : .instruction }
}

func moveSelection(_ s: inout ExplorerState, _ d: Int) {
    guard let p = s.focus.pooling else { return }
    let n = s.outcome?.hits[p]?.count ?? 0
    guard n > 0 else { return }
    s.selected[p] = max(0, min(n - 1, (s.selected[p] ?? 0) + d))
}

func toggleMask(_ s: inout ExplorerState) -> [Reaction] {
    s.mask = s.mask == .bidirectional ? .causal : .bidirectional
    s.status = s.mask == .causal
        ? "mask: causal — the default model was trained bidirectional, so expect worse neighbours"
        : "mask: bidirectional (as the default model was trained)"
    return s.query.string.isEmpty ? [] : [searchReaction(&s)]
}

/// Keys in full-screen views.
func overlayKey(_ s: inout ExplorerState, _ key: Key) -> [Reaction] {
    switch key {
    case .escape, .character("q"):
        s.overlay = .none
        return []
    default: break
    }
    switch s.overlay {
    case .help, .definitions:
        switch key {
        case .character("?"), .character("t"): s.overlay = .none
        case .character("g"): s.helpScroll = 0
        case .character("G"): s.helpScroll = 1_000   // past any end: the run loop clamps it to the last screenful
        default: scrollKey(key, &s.helpScroll)
        }
    case .heatmap:
        switch key {
        case .character("h"): s.overlay = .none
        case .character("a"): s.heatmapHead = nil
        case .character("n"), .tab:
            let heads = s.outcome?.trace.heads ?? 0
            if heads > 0 { s.heatmapHead = s.heatmapHead.map { ($0 + 1) % heads } ?? 0 }
        case .down, .character("j"): s.heatmapScroll += 1
        case .up, .character("k"): s.heatmapScroll = max(0, s.heatmapScroll - 1)
        default: break
        }
    case .document:
        switch key {
        case .character("d"), .enter: s.overlay = .none
        case .character("w"): s.documentShowsMatch.toggle()
        default: scrollKey(key, &s.documentScroll)
        }
    case .map:
        switch key {
        case .character("m"): s.overlay = .none
        case .character("p"), .tab:
            let list = s.poolings
            s.mapPooling = list[((list.firstIndex(of: s.mapPooling) ?? 0) + 1) % list.count]
            return [.loadMap(corpus: s.corpus, pooling: s.mapPooling, query: currentRequest(s))]
        default: break
        }
    case .none: break
    }
    return []
}

/// j/k ↑↓ a line, Space PgDn Ctrl-D / PgUp Ctrl-U ten: the scroll keys of the full-screen texts
/// (the upper bound is the run loop's clamp, which knows how many lines the screen holds).
func scrollKey(_ key: Key, _ offset: inout Int) {
    switch key {
    case .down, .character("j"): offset += 1
    case .up, .character("k"): offset = max(0, offset - 1)
    case .pageDown, .control("d"), .character(" "): offset += 10
    case .pageUp, .control("u"): offset = max(0, offset - 10)
    default: break
    }
}

/// The `/` prompt: the selection follows the first match as the text is typed (from the top of
/// the focused pane); Enter keeps the find for n/N, Esc drops it.
func findKey(_ s: inout ExplorerState, _ find: inout TextField, _ key: Key) -> [Reaction] {
    switch key {
    case .escape:
        s.findLine = nil
        s.filter = ""
        s.status = ""
        return []
    case .enter:
        s.findLine = nil
        if s.filter.isEmpty { s.status = "" }
        return []
    case .backspace where find.string.isEmpty:
        s.findLine = nil; s.filter = ""; s.status = ""
        return []
    default: editPrompt(&find, key)
    }
    s.findLine = find
    s.filter = find.string
    if let p = s.focus.pooling { s.selected[p] = 0 }
    findNext(&s, 0)
    return []
}

/// Moves the focused pane's selection to the next (+1), previous (−1) or current-or-next (0)
/// hit matching the find text, wrapping around, and says where the matches are.
func findNext(_ s: inout ExplorerState, _ direction: Int) {
    guard !s.filter.isEmpty, let o = s.outcome else { return }
    let counts = s.poolings.map { p in "\((o.hits[p] ?? []).filter(s.matchesFilter).count) \(p.rawValue)" }.joined(separator: " · ")
    s.status = "/\(s.filter): \(counts) · n/N next/previous"
    guard let p = s.focus.pooling, let hits = o.hits[p], !hits.isEmpty else { return }
    let n = hits.count
    let from = s.selected[p] ?? 0
    for step in (direction == 0 ? 0 : 1)...n {
        let i = ((from + (direction == 0 ? step : direction * step)) % n + n) % n
        if s.matchesFilter(hits[i]) { s.selected[p] = i; return }
    }
}

/// The `:` command line.
func commandKey(_ s: inout ExplorerState, _ cmd: inout TextField, _ key: Key) -> [Reaction] {
    switch key {
    case .escape: s.commandLine = nil; return []
    case .enter:
        s.commandLine = nil
        return runCommand(&s, cmd.string)
    case .backspace where cmd.string.isEmpty:
        s.commandLine = nil
        return []
    default: editPrompt(&cmd, key)
    }
    s.commandLine = cmd
    return []
}

/// Line editing shared by the `:` and `/` prompts (Backspace on an empty prompt closes it: the
/// callers handle that).
func editPrompt(_ field: inout TextField, _ key: Key) {
    switch key {
    case .character(let c): field.insert(c)
    case .backspace: field.backspace()
    case .left: field.left()
    case .right: field.right()
    case .control("u"): field.killToStart()
    case .control("w"): field.deleteWord()
    default: break
    }
}

/// `:k N`, `:corpus NAME`, `:pooling P`, `:theme NAME`, `:export FILE`, `:mask M`, `:live on|off`, `:q`.
public func runCommand(_ s: inout ExplorerState, _ line: String) -> [Reaction] {
    let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
    guard let verb = parts.first else { return [] }
    let arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
    switch verb {
    case "k":
        guard let n = Int(arg), (1...100).contains(n) else { s.status = ":k needs a number from 1 to 100"; return [] }
        s.k = n
        s.status = "k = \(n)"
        return s.query.string.isEmpty ? [] : [searchReaction(&s)]
    case "corpus":
        if let i = s.info.corpora.firstIndex(where: { $0 == arg }) ?? Int(arg).flatMap({ $0 >= 1 && $0 <= s.info.corpora.count ? $0 - 1 : nil }) {
            s.corpus = i
            s.outcome = nil
            s.map = nil
            s.status = "corpus: \(s.info.corpora[i])"
            var r: [Reaction] = [.switchCorpus(i)]
            if !s.query.string.isEmpty { r.append(searchReaction(&s)) }
            return r
        }
        s.status = "no corpus \(arg.debugDescription); loaded: " + s.info.corpora.joined(separator: ", ")
    case "pooling":
        guard let p = Pooling(rawValue: arg), s.poolings.contains(p) else { s.status = ":pooling latent|mean|eos"; return [] }
        s.mapPooling = p
        s.focus = Focus.allCases.first { $0.pooling == p } ?? s.focus
        s.status = "pooling: \(p.rawValue)"
        if s.overlay == .map { return [.loadMap(corpus: s.corpus, pooling: p, query: currentRequest(s))] }
    case "theme":
        guard !arg.isEmpty else { s.status = ":theme NAME|PATH"; return [] }
        return [.setTheme(arg)]
    case "export":
        guard !arg.isEmpty else { s.status = ":export FILE"; return [] }
        guard s.outcome != nil else { s.status = "nothing to export yet: search first"; return [] }
        return [.export(path: arg)]
    case "mask":
        guard let m = AttentionMask(rawValue: arg) else { s.status = ":mask bidirectional|causal"; return [] }
        if m != s.mask { return toggleMask(&s) }
    case "live":
        s.liveSearch = arg != "off"
        s.status = "live re-ranking " + (s.liveSearch ? "on" : "off")
    case "q", "quit":
        s.quit = true
        return [.quit]
    default:
        s.status = "unknown command :\(verb) — :k N, :corpus NAME, :pooling P, :theme NAME, :export FILE, :mask M, :live on|off, :q"
    }
    return []
}
