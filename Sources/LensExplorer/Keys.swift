/// A key press, decoded from the terminal (see LensTerminal's input decoding).
public enum Key: Equatable, Hashable, Sendable {
    case character(Character)
    case control(Character)      // Ctrl-A … Ctrl-Z as lowercase letters
    case alt(Character)
    case enter, tab, backTab, escape, backspace, delete
    case up, down, left, right, home, end, pageUp, pageDown
    case function(Int)
    case resize
    case mouse(row: Int, column: Int, button: MouseButton)

    public enum MouseButton: Sendable, Hashable { case left, wheelUp, wheelDown }
}
