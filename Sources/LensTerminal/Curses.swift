// The only file that talks to ncurses.
@preconcurrency import CNcursesw
import LensExplorer
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var cursesActive = false

/// Restores the terminal on fatal signals and at exit, then lets the signal do its work.
private func installRestoreHandlers() {
    atexit { if cursesActive { endwin(); cursesActive = false } }
    for sig in [SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE, SIGTRAP] {
        signal(sig) { s in
            if cursesActive { endwin(); cursesActive = false }
            signal(s, SIG_DFL)
            raise(s)
        }
    }
}

/// The real terminal: ncursesw, wide characters, colours from a theme, optional mouse.
public final class CursesTerminal: TerminalDevice {
    private var previous: CellGrid?
    private var theme: Theme
    private let colorEnabled: Bool
    private var pairs: [Role: attr_t] = [:]
    private let decoder: KeyDecoder

    public init(theme: Theme, color: Bool, mouse: Bool) {
        setlocale(LC_ALL, "")
        installRestoreHandlers()
        initscr()
        cursesActive = true
        raw()            // Ctrl-C arrives as a key; the run loop quits and restores.
        noecho()
        nonl()
        keypad(cnc_stdscr(), true)
        set_escdelay(25)
        colorEnabled = color && has_colors()
        if colorEnabled {
            start_color()
            use_default_colors()
        }
        if mouse { mousemask(cnc_all_mouse_events(), nil) }
        self.theme = theme
        decoder = KeyDecoder(codes: .init(up: UInt32(KEY_UP), down: UInt32(KEY_DOWN), left: UInt32(KEY_LEFT), right: UInt32(KEY_RIGHT),
                                          home: UInt32(KEY_HOME), end: UInt32(KEY_END), pageUp: UInt32(KEY_PPAGE), pageDown: UInt32(KEY_NPAGE),
                                          backspace: UInt32(KEY_BACKSPACE), delete: UInt32(KEY_DC), enter: UInt32(KEY_ENTER),
                                          backTab: UInt32(KEY_BTAB), resize: UInt32(KEY_RESIZE), f1: UInt32(cnc_key_f(1)), mouse: UInt32(KEY_MOUSE)))
        apply(theme: theme)
    }

    public var size: (rows: Int, columns: Int) {
        var r: Int32 = 0, c: Int32 = 0
        cnc_getmaxyx(cnc_stdscr(), &r, &c)
        return (Int(r), Int(c))
    }

    public func apply(theme: Theme) {
        self.theme = theme
        pairs = [:]
        let maxColors = Int(cnc_colors())
        for (i, role) in Role.allCases.enumerated() {
            let st = theme.style(role)
            var a = cnc_a_normal()
            if st.bold { a |= cnc_a_bold() }
            if st.dim { a |= cnc_a_dim() }
            if st.underline { a |= cnc_a_underline() }
            if st.reverse { a |= cnc_a_reverse() }
            if st.italic { a |= cnc_a_italic() }
            if colorEnabled && theme.colors > 0 {
                func num(_ c: TerminalColor) -> Int16 {
                    switch c {
                    case .terminalDefault: return -1
                    case .indexed(let n): return n < maxColors ? Int16(n) : Int16(n % 8)
                    }
                }
                init_pair(Int16(i + 1), num(st.foreground), num(st.background))
                a |= cnc_color_pair(Int32(i + 1))
            }
            pairs[role] = a
        }
        invalidate()
    }

    public func invalidate() {
        previous = nil
        clearok(cnc_stdscr(), true)
    }

    public func draw(_ grid: CellGrid) {
        let full = previous == nil || previous!.rows != grid.rows || previous!.columns != grid.columns
        if full { erase() }
        for r in 0..<grid.rows {
            var c = 0
            while c < grid.columns {
                let cell = grid[r, c]
                if !full, let p = previous, p[r, c] == cell, !(c + 1 < grid.columns && p[r, c + 1] != grid[r, c + 1] && grid[r, c + 1].text.isEmpty) {
                    c += 1
                    continue
                }
                if cell.text.isEmpty { c += 1; continue }   // right half of a wide character
                attrset(Int32(bitPattern: pairs[cell.role] ?? cnc_a_normal()))
                var w = cell.text.unicodeScalars.map { wchar_t(bitPattern: $0.value) }
                w.append(0)
                _ = w.withUnsafeBufferPointer { mvaddwstr(Int32(r), Int32(c), $0.baseAddress) }
                c += 1
            }
        }
        attrset(0)
        if let cur = grid.cursor {
            curs_set(1)
            move(Int32(cur.row), Int32(cur.column))
        } else {
            curs_set(0)
        }
        refresh()
        previous = grid
    }

    public func readKey(timeoutMilliseconds: Int) -> Key? {
        timeout(Int32(timeoutMilliseconds))
        var ch: wint_t = 0
        let r = get_wch(&ch)
        if r == ERR { return nil }
        let fn = r == KEY_CODE_YES
        if fn && ch == UInt32(KEY_MOUSE) {
            var ev = MEVENT()
            guard getmouse(&ev) == OK else { return nil }
            // The wheel, and the left button going down (pressed, or a click ncurses assembled
            // from press and release); releases, other buttons and motion are not events here.
            let b: Key.MouseButton
            if (ev.bstate & cnc_button4_pressed()) != 0 { b = .wheelUp }
            else if (ev.bstate & cnc_button5_pressed()) != 0 { b = .wheelDown }
            else if (ev.bstate & cnc_button1_down()) != 0 { b = .left }
            else { return nil }
            return .mouse(row: Int(ev.y), column: Int(ev.x), button: b)
        }
        return decoder.decode(ch, function: fn) {
            timeout(0)
            var n: wint_t = 0
            let rr = get_wch(&n)
            return rr == ERR ? nil : (n, rr == KEY_CODE_YES)
        }
    }

    public func restore() {
        if cursesActive {
            curs_set(1)
            endwin()
            cursesActive = false
        }
    }
}
