import TestSupport
import Resub
import Testing

/// Redis Cluster hash slots: CRC16 (XMODEM) and hash tags, against the vectors Redis itself gives.
@Suite("Hash slot")
struct HashSlotTests {
    @Test("CRC16 of 123456789 is the XMODEM check value 0x31C3")
    func crcCheckValue() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(HashSlot(key: "123456789").rawValue == 0x31C3 & 0x3FFF)
    }

    @Test("CRC16 of nothing is zero, and so is the empty key's slot")
    func emptyKey() {
        #expect(HashSlot.crc16([UInt8]()) == 0)
        #expect(HashSlot(key: "").rawValue == 0)
    }

    @Test("foo is slot 12182 and bar is slot 5061")
    func knownSlots() {
        #expect(HashSlot(key: "foo").rawValue == 12182)
        #expect(HashSlot(key: "bar").rawValue == 5061)
    }

    @Test("the CLUSTER KEYSLOT examples of the Redis documentation")
    func documentedExamples() {
        #expect(HashSlot(key: "somekey").rawValue == 11058)
        #expect(HashSlot(key: "foo{hash_tag}").rawValue == 2515)
        #expect(HashSlot(key: "bar{hash_tag}").rawValue == 2515)
    }

    @Test("keys with the same hash tag share a slot: the tag's own")
    func sameTagSameSlot() {
        let following = HashSlot(key: "{user1000}.following")
        #expect(following == HashSlot(key: "{user1000}.followers"))
        #expect(following == HashSlot(key: "user1000"))
        #expect(following.rawValue == 3443)
    }

    @Test("an empty tag {} means the whole key is hashed")
    func emptyTagHashesWholeKey() {
        #expect(HashSlot(key: "foo{}{bar}").rawValue == HashSlot.crc16(Array("foo{}{bar}".utf8)) & 0x3FFF)
        #expect(HashSlot(key: "foo{}{bar}").rawValue == 8363)
        #expect(HashSlot(key: "{}").rawValue == 15257)
    }

    @Test("the tag runs from the first { to the next }, so foo{{bar}}zap hashes {bar")
    func nestedBraces() {
        #expect(HashSlot(key: "foo{{bar}}zap").rawValue == HashSlot.crc16(Array("{bar".utf8)) & 0x3FFF)
        #expect(HashSlot(key: "foo{{bar}}zap").rawValue == 4015)
    }

    @Test("only the first tag counts: foo{bar}{zap} hashes bar")
    func firstTagOnly() {
        #expect(HashSlot(key: "foo{bar}{zap}") == HashSlot(key: "bar"))
    }

    @Test("a { with no } after it, or a } before the first {, is part of the key")
    func unmatchedBraces() {
        #expect(HashSlot(key: "a{b").rawValue == HashSlot.crc16(Array("a{b".utf8)) & 0x3FFF)
        #expect(HashSlot(key: "}{a}") == HashSlot(key: "a"))
        #expect(HashSlot(key: "{{}}") == HashSlot(key: "{"))
    }

    @Test("a key is hashed as its UTF-8 bytes, the same whether given as a string or as bytes")
    func utf8Bytes() {
        #expect(HashSlot(key: "café").rawValue == 5735)
        #expect(HashSlot(key: Array("café".utf8)) == HashSlot(key: "café"))
        #expect(HashSlot(key: [0xFF, 0x00, 0x7B, 0x61, 0x7D]) == HashSlot(key: "a"))
    }

    @Test("slot numbers are 0…16383 and order by number")
    func rawValues() {
        #expect(HashSlot(rawValue: 0)?.rawValue == 0)
        #expect(HashSlot(rawValue: 16383)?.rawValue == 16383)
        #expect(HashSlot(rawValue: 16384) == nil)
        #expect(HashSlot(rawValue: -1) == nil)
        #expect(HashSlot(rawValue: 5)! < HashSlot(rawValue: 6)!)
        #expect(HashSlot(rawValue: 42)!.description == "42")
        #expect(HashSlot.count == 16384)
    }

    @Test("256 random keys full of braces hash to the slot redis-server 7.0 CLUSTER KEYSLOT gave")
    func redisVectors() {
        for (key, slot) in Self.redisKeyslots {
            #expect(HashSlot(key: key).rawValue == slot, "\(key)")
        }
    }

    @Test("the slots of random keys are spread over the whole range")
    func spread() {
        var rng = SplitMix64(seed: 11)
        var seen = Set<UInt16>()
        for _ in 0..<20_000 {
            let key = (0..<8).map { _ in UInt8.random(in: 0x21...0x7A, using: &rng) }.filter { $0 != 0x7B && $0 != 0x7D }
            let slot = HashSlot(key: key).rawValue
            #expect(slot < 16384)
            seen.insert(slot)
        }
        // 20,000 uniform draws over 16,384 slots hit about 11,900 of them.
        #expect(seen.count > 11_000)
    }

    /// Keys from an alphabet rich in `{` and `}`, with `redis-cli -p <port> cluster keyslot <key>` from
    /// redis-server 7.0.15 started with `--cluster-enabled yes`.
    static let redisKeyslots: [(String, UInt16)] = [
        ("--{}", 12742), ("-.}1..x.", 4253), ("-.}xb{bb", 6377), ("-:", 10147),
        ("-:x.{x", 70), ("-_}}{", 9147), ("-a.{abxb1", 5184), ("-a1}:", 7457),
        ("-a}}1", 1158), ("-b", 15454), ("-b1x1}_b11}-", 4577), ("-b_::", 4812),
        ("-bb}", 14769), ("-bx{{1:{{", 6204), ("-xb{axab}{-", 10800), ("-{.}.1.-", 1452),
        ("-{1bb_", 9014), ("-{}b{{a1{{", 6700), ("-}-b", 10447), ("-}1{}}", 9260),
        ("-}_{_x", 12165), ("-}}.a{x:{{b-", 805), (".", 1452), (".-", 4134),
        (".-b1ba11{{", 3718), ("..{a.b", 11147), ("..}-}1{_", 11721), ("..}b1:.1_xx-", 12885),
        (".1:a_}aab}11", 6313), (".1}1", 16374), (".:", 13040), (".:{1._:.{-", 8613),
        ("._{", 3258), (".a", 6510), (".aa_--x}-._a", 5162), (".a{-", 6179),
        (".a{x:x1b:a_a", 5105), (".x-1}:bx-b_", 3011), (".{--", 14488), (".{ax:a}-b.xb", 2070),
        (".{}_x_{}}.a.", 13296), (".}xx}abb-", 5095), (".}{}}{_..{.", 9968), ("1-", 875),
        ("1-x", 15792), ("1...:::_b", 3470), ("11{_-{.-1", 6748), ("11{x", 1012),
        ("1:{}}{}.", 14765), ("1_._.", 384), ("1_1a{{{", 11780), ("1a-{:}{:ba-{", 5913),
        ("1b:b}b", 13531), ("1ba", 9050), ("1b{}1}_}_{}", 5110), ("1b}}x1", 12635),
        ("1x_a.", 11841), ("1{", 14680), ("1{-:_x", 14055), ("1{_}}._ba}", 11034),
        ("1{a-:-{{:x", 571), ("1{xx:.}:}{{", 6637), ("1{xx{}}", 16293), ("1{{a{1}1-x1", 736),
        ("1}", 6558), ("1}1{x:.:__}.", 8309), ("1}:.{x.a}}x{", 10439), ("1}{.}{_{aa-a", 1452),
        ("1}{.}}1b", 1452), (":", 5913), (":--a:{{:1}x", 9429), (":-}_.-b{", 7039),
        (":.-{.:}:", 13040), (":._11}}.}_", 15200), (":.}", 2231), (":1_:::", 4551),
        (":1b}b1}}a", 7530), ("::.-", 5632), ("::}", 1792), ("::}{.b", 6601),
        (":_{{a_}:1}}", 15352), (":a1}.", 11290), (":{-x1b", 7638), (":{x1ax", 10832),
        (":{{bb:a}a}{", 9745), (":{{b{", 7271), (":}:.11b::{-", 9718), (":}a..}.-}}1.", 8620),
        (":}{b}{ax{", 3300), ("_", 11034), ("_-11_b{{", 5448), ("_-:}_{{_a{:", 3858),
        ("_-a}:a1{", 8543), ("_-b.{", 8477), ("_.b{{{}", 7007), ("_.}:a}_}}a", 14167),
        ("_1-1}}{:", 3246), ("_1.x:a{}:b{", 14457), ("_1}b-", 10312), ("_:-1{1", 12635),
        ("_:11:-}--}1", 755), ("__.{}.:", 9782), ("_a", 8710), ("_a.x", 6136),
        ("_a1_.", 13845), ("_x", 8478), ("_{", 4477), ("_{1.b}", 7064),
        ("_{1::-1{x", 10131), ("_{}x", 2230), ("_}x", 13157), ("a", 15495),
        ("a-1{}_", 5325), ("a-x", 9086), ("a.", 15799), ("a.._", 15442),
        ("a.}}}:}_:-", 12248), ("a:-b}_:{", 10770), ("a:{_x", 15912), ("aa:_x:", 2401),
        ("aba1}", 13042), ("abb", 3575), ("abbb-_}", 1002), ("ab{-", 15105),
        ("ab}._1{b:}{", 14929), ("ax_.xx-{_.-", 6729), ("a{.:.", 7634), ("a{:{:", 11833),
        ("a{{a}{1{1}", 10276), ("a{{x}.:1", 11068), ("a}-}{1-__b{:", 16370), ("a}xx", 2896),
        ("a}{.{-{aa}1", 9855), ("a}}x.", 5755), ("a}}{{", 2424), ("b", 3300),
        ("b--.-}}1-}b:", 4490), ("b-{{.1_{:-", 22), ("b.", 10468), ("b.-", 9517),
        ("b:", 14929), ("bbb:{}x{{a_", 3787), ("bb{._:1", 7455), ("bx", 4823),
        ("bx:", 9186), ("b{-{{11b", 5085), ("b{._", 4784), ("b{.{axx{{", 7276),
        ("b{11.", 168), ("b}", 626), ("b}:a{{{a}", 221), ("b}{1}", 9842),
        ("b}{_}b_{}{b", 11034), ("x", 16287), ("x-1_._", 1857), ("x-:}-__:", 2807),
        ("x-{{", 6270), ("x1", 10114), ("x::1b.}.}{", 15509), ("x:a{1___1}1x", 3430),
        ("xa.bb}::{}1x", 6134), ("xa{-ba_{x-_", 12491), ("xba-_b", 11285), ("xba:1.:.:}{x", 10248),
        ("xbb{-:{}xaa1", 8501), ("xb}", 13275), ("xx11xa}}a1", 13213), ("xx_:a-:x}", 13545),
        ("xxa1-.}}xax_", 14881), ("x{bba}_1{:}", 9412), ("x{x1b.{}_.", 6888), ("x{{b1", 8194),
        ("x{}", 2608), ("x{}-_1-{", 12175), ("x}}aa1.{1-", 4016), ("{", 4092),
        ("{-_a.{1", 1214), ("{.", 4367), ("{...x_:.}1_x", 13426), ("{.a}x1bb1}.b", 6510),
        ("{.}_{{}1a", 1452), ("{1.-}xa", 8883), ("{11.{{x-x_x", 4548), ("{1:{_-{a", 4830),
        ("{1{{-1-{.x", 13178), ("{:", 954), ("{_", 16313), ("{_-_-", 16245),
        ("{_x-.-{aa{", 495), ("{a}", 15495), ("{a}-", 15495), ("{a}{", 15495),
        ("{b.a}b-", 11365), ("{b{{.:", 7426), ("{b}x}b_.{_}}", 3300), ("{x{:b.:}a", 14878),
        ("{x{_:.}-1", 7884), ("{{", 7007), ("{{{-{x", 1158), ("{{{:1x{x}:a", 1016),
        ("{{}-:{1:x", 4092), ("{{}}", 4092), ("{}b.{}", 10278), ("{}b:", 15458),
        ("{}}::{xxb:-1", 10552), ("{}}{-_{x:.x1", 6319), ("}", 12090), ("}-}1", 10003),
        ("}.-{", 6514), ("}.1b1._x}}", 15796), ("}.1}:}", 2467), ("}._:_::", 8433),
        ("}._}x.}:bx{{", 23), ("}.b1_.x{}b", 4070), ("}.x", 47), ("}1", 6263),
        ("}1-a}bb{}._", 3780), ("}1-b}{.x.b_x", 15332), ("}1__{", 1315), ("}1ba", 6313),
        ("}1x", 4962), ("}:bx{}::}.", 7871), ("}:x1}:.{:x{", 15000), ("}:}", 7997),
        ("}_", 5407), ("}_.{", 8985), ("}_1{1--ax}}", 11108), ("}_{..:a-.:a", 10653),
        ("}_{:{", 4210), ("}_{{{a", 10147), ("}_}-:}}a}-", 10317), ("}a--_", 3245),
        ("}b-", 734), ("}b_b}x_", 3825), ("}bx:", 6161), ("}b}1b1-:}.{", 5501),
        ("}x11xb:_{{}", 4092), ("}x:", 3248), ("}x:..{{1{", 3713), ("}x:_}:", 3029),
        ("}x{a-{{}x.}", 12462), ("}{-{a_._1-.1", 7213), ("}{ba{_:b-{a", 10414), ("}{x.{}:axx", 7100),
        ("}{{", 262), ("}{{__x1b-}", 10166), ("}{{{a{-b1_-{", 4079), ("}{}:}_}-_:.1", 14418),
        ("}{}axb.:", 4409), ("}}", 4415), ("}}.", 8688), ("}}a", 6363),
        ("}}axa-_xxbb}", 13241), ("}}a}}", 14955), ("}}b{b}b{}x}}", 3300), ("}}b}b{.{{b}", 9642),
    ]
}
