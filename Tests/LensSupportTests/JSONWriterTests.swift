import Foundation
import Testing
import LensSupport

@Test func writerProducesValidJSONThatRoundTrips() throws {
    var w = JSONWriter()
    w.beginObject()
    w.member("text", "quote \" backslash \\ newline \n tab \t bell \u{7} 한국어 👋")
    w.key("v"); w.floats([0.1, -2.5e-8, 3])
    w.key("nested"); w.beginArray(); w.beginObject(); w.member("a", 1); w.endObject(); w.int(2); w.null(); w.endArray()
    w.member("ok", true)
    w.key("nan"); w.number(Double.nan)
    w.endObject()
    let obj = try JSONSerialization.jsonObject(with: Data(w.text.utf8)) as! [String: Any]
    #expect(obj["text"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{7} 한국어 👋")
    let v = obj["v"] as! [Double]
    #expect(Float(v[0]) == 0.1 && Float(v[1]) == -2.5e-8 && v[2] == 3)
    #expect((obj["nested"] as! [Any]).count == 3)
    #expect(obj["ok"] as? Bool == true)
    #expect(obj["nan"] is NSNull)
}

@Test func roundedFloats() {
    #expect(JSONWriter.format(0.123456, digits: 3) == "0.123")
    #expect(JSONWriter.format(-0.0001, digits: 3) == "0")
}

@Test func nestedContainersAfterKeys() throws {
    var w = JSONWriter()
    w.beginObject()
    w.key("a"); w.beginObject(); w.endObject()
    w.key("b"); w.beginArray(); w.int(1); w.int(2); w.beginArray(); w.endArray(); w.endArray()
    w.key("c"); w.beginObject(); w.key("d"); w.beginArray(); w.string("x"); w.endArray(); w.member("e", 1.5); w.endObject()
    w.endObject()
    #expect(w.text == #"{"a":{},"b":[1,2,[]],"c":{"d":["x"],"e":1.5}}"#)
}
