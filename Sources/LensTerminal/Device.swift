import LensExplorer

/// What the run loop needs from a terminal. `CursesTerminal` is the real one;
/// `MemoryTerminal` replays scripted keys and keeps every frame (tests).
public protocol TerminalDevice: AnyObject {
    var size: (rows: Int, columns: Int) { get }
    /// Draws a frame (only what changed since the last one).
    func draw(_ grid: CellGrid)
    /// Next key, or nil after `timeoutMilliseconds` without one.
    func readKey(timeoutMilliseconds: Int) -> Key?
    func apply(theme: Theme)
    /// Forces a full repaint on the next draw.
    func invalidate()
    /// Leaves the terminal as it was found.
    func restore()
}

/// A terminal in memory: a script of keys (nil = time passes) and the frames drawn.
public final class MemoryTerminal: TerminalDevice {
    public var size: (rows: Int, columns: Int)
    public private(set) var frames: [CellGrid] = []
    public var script: [Key?]
    public private(set) var restored = false
    public var theme: Theme?

    public init(rows: Int, columns: Int, script: [Key?]) {
        size = (rows, columns)
        self.script = script
    }
    public func draw(_ grid: CellGrid) { frames.append(grid) }
    public func readKey(timeoutMilliseconds: Int) -> Key? {
        guard !script.isEmpty else { return .control("c") }
        let k = script.removeFirst()
        if case .resize = k ?? .enter { }
        return k
    }
    public func apply(theme: Theme) { self.theme = theme }
    public func invalidate() {}
    public func restore() { restored = true }
    public var lastScreen: String { frames.last?.text ?? "" }
}

/// Decodes raw terminal input codes into keys: a small state machine over
/// (code, isFunctionKey) pairs, with ESC + key read as Alt+key.
public struct KeyDecoder {
    /// ncurses-style function key codes this decoder understands.
    public struct Codes {
        public var up: UInt32, down: UInt32, left: UInt32, right: UInt32, home: UInt32, end: UInt32
        public var pageUp: UInt32, pageDown: UInt32, backspace: UInt32, delete: UInt32, enter: UInt32
        public var backTab: UInt32, resize: UInt32, f1: UInt32, mouse: UInt32
        public init(up: UInt32, down: UInt32, left: UInt32, right: UInt32, home: UInt32, end: UInt32, pageUp: UInt32, pageDown: UInt32,
                    backspace: UInt32, delete: UInt32, enter: UInt32, backTab: UInt32, resize: UInt32, f1: UInt32, mouse: UInt32) {
            self.up = up; self.down = down; self.left = left; self.right = right; self.home = home; self.end = end
            self.pageUp = pageUp; self.pageDown = pageDown; self.backspace = backspace; self.delete = delete; self.enter = enter
            self.backTab = backTab; self.resize = resize; self.f1 = f1; self.mouse = mouse
        }
    }
    public let codes: Codes
    public init(codes: Codes) { self.codes = codes }

    /// Decodes one input. `next` reads a following code without waiting (for ESC
    /// sequences typed as Alt+key); nil when none is pending.
    public func decode(_ code: UInt32, function: Bool, next: () -> (UInt32, Bool)?) -> Key? {
        if function {
            switch code {
            case codes.up: return .up
            case codes.down: return .down
            case codes.left: return .left
            case codes.right: return .right
            case codes.home: return .home
            case codes.end: return .end
            case codes.pageUp: return .pageUp
            case codes.pageDown: return .pageDown
            case codes.backspace: return .backspace
            case codes.delete: return .delete
            case codes.enter: return .enter
            case codes.backTab: return .backTab
            case codes.resize: return .resize
            case codes.f1..<(codes.f1 + 12): return .function(Int(code - codes.f1) + 1)
            default: return nil
            }
        }
        switch code {
        case 0x0D, 0x0A: return .enter
        case 0x09: return .tab
        case 0x7F, 0x08: return .backspace
        case 0x1B:
            if let (n, fn) = next(), !fn, n >= 0x20, n != 0x7F, let u = Unicode.Scalar(n) { return .alt(Character(u)) }
            return .escape
        case 0x01...0x1A: return .control(Character(Unicode.Scalar(code + 0x60)!))
        case 0x00..<0x20: return nil
        default:
            guard let u = Unicode.Scalar(code) else { return nil }
            return .character(Character(u))
        }
    }
}
