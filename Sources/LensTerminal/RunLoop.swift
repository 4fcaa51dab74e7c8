import Dispatch
import Foundation
import LensExplorer

/// Performs reactions (search, documents, maps, themes, export) and posts results back.
public protocol ExplorerBackend: AnyObject {
    func perform(_ reaction: Reaction, state: ExplorerState, post: @escaping @Sendable (Action) -> Void)
}

/// A thread-safe inbox of actions from background work.
final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Action] = []
    func post(_ a: Action) { lock.lock(); items.append(a); lock.unlock() }
    func drain() -> [Action] { lock.lock(); defer { lock.unlock() }; let x = items; items = []; return x }
}

nonisolated(unsafe) var terminationRequested: sig_atomic_t = 0

/// The explorer's loop: read a key (100 ms timeout), turn it and background results into
/// actions, `update`, perform reactions, render, draw. Never blocks on the model.
public final class ExplorerLoop {
    public private(set) var state: ExplorerState
    let terminal: TerminalDevice
    let backend: ExplorerBackend
    let inbox = Inbox()
    let themeLoader: (String) throws -> Theme

    public init(state: ExplorerState, terminal: TerminalDevice, backend: ExplorerBackend, themeLoader: @escaping (String) throws -> Theme) {
        self.state = state
        self.terminal = terminal
        self.backend = backend
        self.themeLoader = themeLoader
    }

    /// Posts an action from any thread (e.g. indexing progress).
    public func post(_ a: Action) { inbox.post(a) }

    /// Runs until quit (q, Ctrl-C, SIGTERM/SIGHUP). The terminal is always restored.
    public func run(initial: [Reaction] = []) {
        signal(SIGTERM) { _ in terminationRequested = 1 }
        signal(SIGHUP) { _ in terminationRequested = 1 }
        defer { terminal.restore() }
        let sz = terminal.size
        state.rows = sz.rows
        state.columns = sz.columns
        for r in initial { perform(r) }
        var screen = render(state)
        terminal.draw(screen)
        var lastTick = Date()
        while !state.quit && terminationRequested == 0 {
            var actions: [Action] = []
            if let key = terminal.readKey(timeoutMilliseconds: 100) {
                if key == .resize {
                    let sz = terminal.size
                    actions.append(.resize(rows: sz.rows, columns: sz.columns))
                } else if case let .mouse(row, column, .left) = key {
                    if let t = screen.target(row: row, column: column) { actions.append(.click(t)) }
                } else {
                    actions.append(.key(key))
                }
            }
            actions += inbox.drain()
            if Date().timeIntervalSince(lastTick) >= 0.1 {
                actions.append(.tick)
                lastTick = Date()
            }
            guard !actions.isEmpty else { continue }
            var redraw = false
            for a in actions {
                for r in update(&state, a) {
                    if r == .redraw { redraw = true } else { perform(r) }
                }
            }
            if redraw { terminal.invalidate() }
            clampScrolls(&state)
            screen = render(state)
            terminal.draw(screen)
        }
    }

    func perform(_ r: Reaction) {
        switch r {
        case .quit:
            state.quit = true
        case .redraw:
            terminal.invalidate()
        case .setTheme(let name):
            do {
                let t = try themeLoader(name)
                terminal.apply(theme: t)
                state.themeName = t.name
                state.status = "theme: \(t.name)"
            } catch {
                state.status = "theme: \(error)"
            }
        default:
            let inbox = self.inbox
            backend.perform(r, state: state) { inbox.post($0) }
        }
    }
}
