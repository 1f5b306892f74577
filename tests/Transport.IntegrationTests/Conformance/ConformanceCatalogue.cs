using System.Buffers.Binary;
using System.IO.Compression;
using System.Net.WebSockets;
using System.Text;
using static Transport.IntegrationTests.Conformance.Expect;

namespace Transport.IntegrationTests.Conformance;

/// <summary>
/// The case catalogue, modelled on Autobahn|Testsuite's sections, each outcome taken from RFC 6455 or
/// RFC 7692. Every case runs against every leaf (ConformanceTests); docs/conformance.md is its table.
/// </summary>
internal static class ConformanceCatalogue
{
    public static readonly IReadOnlyDictionary<int, string> Sections = new Dictionary<int, string>
    {
        [1] = "Framing",
        [2] = "Pings and pongs",
        [3] = "Reserved bits",
        [4] = "Opcodes",
        [5] = "Fragmentation",
        [6] = "UTF-8 handling",
        [7] = "Close handling",
        [8] = "Limits",
        [9] = "permessage-deflate negotiation",
        [10] = "permessage-deflate data",
        [11] = "Sending",
    };

    private static readonly int[] ProtocolError = [CloseCodes.ProtocolError];
    private static readonly int[] InvalidPayload = [CloseCodes.InvalidPayload];
    private static readonly int[] TooBig = [CloseCodes.MessageTooBig];
    private static readonly byte[] Hello = "Hello"u8.ToArray();
    private const string Deflate = "permessage-deflate";
    private const string PlatformDrops = "the platform's ManagedWebSocket aborts the connection without a close code";
    private const string PlatformAccepts = "the platform does not check the server's Sec-WebSocket-Extensions answer against its offer";

    public static IReadOnlyList<ConformanceCase> All { get; } = Build();

    public static ConformanceCase Find(string id) => All.Single(c => c.Id == id);

    private static List<ConformanceCase> Build()
    {
        var cases = new List<ConformanceCase>();
        Framing(cases);
        PingsAndPongs(cases);
        ReservedBits(cases);
        Opcodes(cases);
        Fragmentation(cases);
        Utf8Handling(cases);
        CloseHandling(cases);
        Limits(cases);
        DeflateNegotiation(cases);
        DeflateData(cases);
        Sending(cases);
        return cases;
    }

    private static void Framing(List<ConformanceCase> cases)
    {
        foreach (var (n, size, text) in new[] { (1, 0, true), (2, 125, true), (3, 126, true), (4, 65_535, true), (5, 65_536, true), (6, 0, false), (7, 125, false), (8, 65_536, false) })
        {
            var payload = text ? Encoding.ASCII.GetBytes(new string('*', size)) : Pattern(size);
            cases.Add(new($"1.{n}", $"{(text ? "Text" : "Binary")} message of {size} bytes", "RFC 6455 5.2 (7-, 16- and 64-bit lengths)",
                s => text ? s.Text(payload) : s.Binary(payload),
                Delivers("delivered", text ? TextBytes(payload) : Binary(payload))));
        }

        var big = Pattern(65_536);
        cases.Add(new("1.9", "Binary message of 65,536 bytes written 997 bytes per TCP write", "RFC 6455 5.2",
            async s =>
            {
                var frame = CaseServer.FrameBytes(2, true, big);
                for (var i = 0; i < frame.Length; i += 997)
                {
                    await s.Raw(frame[i..Math.Min(frame.Length, i + 997)]);
                }
            },
            Delivers("delivered", Binary(big))));
        cases.Add(new("1.10", "A text frame written one byte per TCP write", "RFC 6455 5.2",
            s => s.Raw(CaseServer.FrameBytes(1, true, Encoding.UTF8.GetBytes("slow ✓ server")), oneByteAtATime: true),
            Delivers("delivered", Message("slow ✓ server"))));
        var burst = Enumerable.Range(0, 300).Select(i => Encoding.ASCII.GetBytes(i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        cases.Add(new("1.11", "300 text messages in one TCP write", "RFC 6455 5.2",
            s => s.Raw(burst.SelectMany(m => CaseServer.FrameBytes(1, true, m)).ToArray()),
            Delivers("all 300 delivered, in order", burst.Select(TextBytes).ToArray())));
        cases.Add(new("1.12", "A 64-bit length with its most significant bit set", "RFC 6455 5.2 (the most significant bit MUST be 0)",
            async s =>
            {
                await s.Raw([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 5]);
                await s.Raw(Pattern(5));
            },
            Fails("fail, 1002", ProtocolError)));
        cases.Add(new("1.13", "A masked frame from the server", "RFC 6455 5.1 (a client MUST close when it sees a masked frame)",
            s => s.Raw([0x81, 0x85, 1, 2, 3, 4, (byte)('H' ^ 1), (byte)('e' ^ 2), (byte)('l' ^ 3), (byte)('l' ^ 4), (byte)('o' ^ 1)]),
            Fails("fail, 1002", ProtocolError)));
        cases.Add(new("1.14", "A 5-byte payload with a 64-bit length field (not minimal)", "RFC 6455 5.2 binds the sender only",
            s => s.Raw([0x81, 127, 0, 0, 0, 0, 0, 0, 0, 5, .. Hello]),
            Delivers("delivered", Message("Hello"))));
    }

    private static void PingsAndPongs(List<ConformanceCase> cases)
    {
        var text125 = Encoding.ASCII.GetBytes(new string('p', 125));
        var binary = Enumerable.Range(0, 125).Select(i => (byte)(255 - i)).ToArray();
        cases.Add(new("2.1", "Ping without payload", "RFC 6455 5.5.2, 5.5.3 (pong echoes the ping's data)", s => s.Ping([]), Pongs("pong, empty", [[]])));
        cases.Add(new("2.2", "Ping with 125 bytes of text", "RFC 6455 5.5.2, 5.5.3", s => s.Ping(text125), Pongs("pong echoing it", [text125])));
        cases.Add(new("2.3", "Ping with 125 bytes of binary", "RFC 6455 5.5.2, 5.5.3", s => s.Ping(binary), Pongs("pong echoing it", [binary])));
        cases.Add(new("2.4", "Ping with 126 bytes", "RFC 6455 5.5 (control payload at most 125)", s => s.Ping(new byte[126]), Fails("fail, 1002", ProtocolError)));
        cases.Add(new("2.5", "Ping declaring 2^32 + 3 bytes, 3 sent", "RFC 6455 5.5 (issue 26, item 3: it was read as a 3-byte ping)",
            async s =>
            {
                await s.Frame(9, true, [1, 2, 3], declaredLength: (1L << 32) + 3);
                await s.Text("after");
            },
            Fails("fail, 1002", ProtocolError)));
        cases.Add(new("2.6", "Ping with 125 bytes written one byte per TCP write", "RFC 6455 5.5.2", s => s.Raw(CaseServer.FrameBytes(9, true, binary), oneByteAtATime: true), Pongs("pong echoing it", [binary])));
        cases.Add(new("2.7", "Unsolicited pong without payload", "RFC 6455 5.5.3 (no response expected)", s => s.Pong([]), Delivers("ignored")));
        cases.Add(new("2.8", "Unsolicited pong with payload", "RFC 6455 5.5.3", s => s.Pong(Hello), Delivers("ignored")));
        cases.Add(new("2.9", "Unsolicited pong, then a ping", "RFC 6455 5.5.3", async s =>
        {
            await s.Pong(Hello);
            await s.Ping([9, 8, 7]);
        }, Pongs("one pong, echoing the ping", [[9, 8, 7]])));
        var pings = Enumerable.Range(0, 10).Select(i => new[] { (byte)i }).ToArray();
        cases.Add(new("2.10", "Ten pings in a row", "RFC 6455 5.5.2", async s =>
        {
            foreach (var ping in pings)
            {
                await s.Ping(ping);
            }
        }, Pongs("ten pongs, in order", pings)));
        cases.Add(new("2.11", "A ping between two messages", "RFC 6455 5.4 (control frames interleave)", async s =>
        {
            await s.Text("one");
            await s.Ping([1]);
            await s.Text("two");
        }, Pongs("pong; both delivered", [[1]], Message("one"), Message("two"))));
    }

    private static void ReservedBits(List<ConformanceCase> cases)
    {
        const string rfc = "RFC 6455 5.2 (non-zero RSV without an extension defining it: fail)";
        cases.Add(new("3.1", "RSV1 on a text frame (no extension)", rfc, s => s.Text(Hello, rsv: 4), Fails("fail, 1002", ProtocolError)));
        cases.Add(new("3.2", "RSV2 on a text frame after a valid one", rfc, async s =>
        {
            await s.Text("valid");
            await s.Text(Hello, rsv: 2);
        }, Fails("first delivered, then fail, 1002", ProtocolError, Message("valid"))));
        cases.Add(new("3.3", "RSV1+RSV2 on a text frame, a ping after it", rfc, async s =>
        {
            await s.Text(Hello, rsv: 6);
            await s.Ping([1]);
        }, Fails("fail, 1002", ProtocolError)));
        cases.Add(new("3.4", "RSV3 on a binary frame", rfc, s => s.Binary(Hello, rsv: 1), Fails("fail, 1002", ProtocolError)));
        cases.Add(new("3.5", "RSV1+RSV3 on a ping", rfc, s => s.Ping(Hello, rsv: 5), Fails("fail, 1002", ProtocolError)));
        cases.Add(new("3.6", "RSV2+RSV3 on a close", rfc, s => s.ClosePayload([0x03, 0xE8], rsv: 3), Fails("fail, 1002", ProtocolError)));
        cases.Add(new("3.7", "All three RSV bits on a text frame", rfc, s => s.Text(Hello, rsv: 7), Fails("fail, 1002", ProtocolError)));
    }

    private static void Opcodes(List<ConformanceCase> cases)
    {
        var n = 1;
        foreach (var opcode in new[] { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF })
        {
            var control = opcode >= 8;
            var withMessage = n % 2 == 0;
            cases.Add(new($"4.{n++}", $"Reserved {(control ? "control" : "data")} opcode 0x{opcode:X}{(withMessage ? " after a valid message" : string.Empty)}", "RFC 6455 5.2 (an unknown opcode: fail)",
                async s =>
                {
                    if (withMessage)
                    {
                        await s.Text("valid");
                    }

                    await s.Frame(opcode, true, Hello);
                },
                withMessage ? Fails("first delivered, then fail, 1002", ProtocolError, Message("valid")) : Fails("fail, 1002", ProtocolError)));
        }
    }

    private static void Fragmentation(List<ConformanceCase> cases)
    {
        cases.Add(new("5.1", "A fragmented ping", "RFC 6455 5.5 (control frames MUST NOT be fragmented)", async s =>
        {
            await s.Frame(9, false, [1]);
            await s.Continuation([2], fin: true);
        }, Fails("fail, 1002", ProtocolError)));
        cases.Add(new("5.2", "A fragmented pong", "RFC 6455 5.5", async s =>
        {
            await s.Frame(10, false, [1]);
            await s.Continuation([2], fin: true);
        }, Fails("fail, 1002", ProtocolError)));
        cases.Add(new("5.3", "A text message in two fragments", "RFC 6455 5.4", async s =>
        {
            await s.Text("frag", fin: false);
            await s.Continuation("ment"u8.ToArray(), fin: true);
        }, Delivers("delivered whole", Message("fragment"))));
        cases.Add(new("5.4", "Two fragments written one byte per TCP write", "RFC 6455 5.4",
            s => s.Raw([.. CaseServer.FrameBytes(1, false, "frag"u8.ToArray()), .. CaseServer.FrameBytes(0, true, "ment"u8.ToArray())], oneByteAtATime: true),
            Delivers("delivered whole", Message("fragment"))));
        cases.Add(new("5.5", "A ping between two fragments", "RFC 6455 5.4 (control frames in the middle of a message)", async s =>
        {
            await s.Text("frag", fin: false);
            await s.Ping([5]);
            await s.Continuation("ment"u8.ToArray(), fin: true);
        }, Pongs("pong; delivered whole", [[5]], Message("fragment"))));
        cases.Add(new("5.6", "Five fragments with a ping before each continuation", "RFC 6455 5.4", async s =>
        {
            await s.Text("a", fin: false);
            for (var i = 0; i < 4; i++)
            {
                await s.Ping([(byte)i]);
                await s.Continuation([(byte)('b' + i)], fin: i == 3);
            }
        }, Pongs("four pongs; delivered whole", [[0], [1], [2], [3]], Message("abcde"))));
        cases.Add(new("5.7", "A final continuation with no message to continue", "RFC 6455 5.4", s => s.Continuation(Hello, fin: true), Fails("fail, 1002", ProtocolError)));
        cases.Add(new("5.8", "A non-final continuation with no message to continue", "RFC 6455 5.4", s => s.Continuation(Hello, fin: false), Fails("fail, 1002", ProtocolError)));
        cases.Add(new("5.9", "A new text message before the previous one ended", "RFC 6455 5.4 (fragments of one message are not interleaved)", async s =>
        {
            await s.Text("one", fin: false);
            await s.Text("two");
        }, Fails("fail, 1002", ProtocolError)));
        cases.Add(new("5.10", "A binary frame inside a fragmented text message", "RFC 6455 5.4", async s =>
        {
            await s.Text("one", fin: false);
            await s.Binary([1]);
        }, Fails("fail, 1002", ProtocolError)));
        cases.Add(new("5.11", "Empty fragments around the data", "RFC 6455 5.4", async s =>
        {
            await s.Text([], fin: false);
            await s.Continuation([], fin: false);
            await s.Continuation("ab"u8.ToArray(), fin: false);
            await s.Continuation([], fin: true);
        }, Delivers("delivered whole", Message("ab"))));
        var hundred = Pattern(100);
        cases.Add(new("5.12", "A binary message in 100 one-byte fragments", "RFC 6455 5.4", async s =>
        {
            for (var i = 0; i < 100; i++)
            {
                await s.Frame(i == 0 ? 2 : 0, i == 99, [hundred[i]]);
            }
        }, Delivers("delivered whole", Binary(hundred))));
        cases.Add(new("5.13", "The server closes between two fragments", "RFC 6455 5.4, 5.5.1 (the unfinished message is not a message)", async s =>
        {
            await s.Text("unfinished", fin: false);
            await s.Close(1000);
        }, Delivers("close echoed; nothing delivered")));
    }

    private static void Utf8Handling(List<ConformanceCase> cases)
    {
        const string rfc8 = "RFC 6455 8.1 (invalid UTF-8 in a text message: fail, 1007)";
        var hello = Encoding.UTF8.GetBytes("Hello-µ@ßöäüàá-UTF-8!!");
        cases.Add(new("6.1", "Valid UTF-8 in one frame", "RFC 6455 5.6, RFC 3629", s => s.Text(hello), Delivers("delivered", TextBytes(hello))));
        cases.Add(new("6.2", "Valid UTF-8, one fragment per byte (code points split)", "RFC 6455 5.6, 8.1", async s =>
        {
            for (var i = 0; i < hello.Length; i++)
            {
                await s.Frame(i == 0 ? 1 : 0, i == hello.Length - 1, [hello[i]]);
            }
        }, Delivers("delivered", TextBytes(hello))));
        var boundaries = Encoding.UTF8.GetBytes("\u0080\u07FF\u0800\uFFFD" + char.ConvertFromUtf32(0x10000) + char.ConvertFromUtf32(0x10FFFF));
        cases.Add(new("6.3", "Code points at the encoding boundaries (U+0080, U+07FF, U+0800, U+10000, U+10FFFF)", "RFC 3629 3", s => s.Text(boundaries), Delivers("delivered", TextBytes(boundaries))));
        byte[] nonCharacters = [0xEF, 0xBF, 0xBE, 0xEF, 0xBF, 0xBF];
        cases.Add(new("6.4", "Noncharacters U+FFFE and U+FFFF", "RFC 3629 (well-formed)", s => s.Text(nonCharacters), Delivers("delivered", TextBytes(nonCharacters))));
        var euro = "€"u8.ToArray();
        cases.Add(new("6.5", "\"€\" split across three fragments", "RFC 6455 8.1 (validated across fragments)", async s =>
        {
            await s.Text(euro[..1], fin: false);
            await s.Continuation(euro[1..2], fin: false);
            await s.Continuation(euro[2..], fin: true);
        }, Delivers("delivered", Message("€"))));
        var emoji = "😀"u8.ToArray();
        cases.Add(new("6.6", "\"😀\" split across two fragments, a ping between", "RFC 6455 8.1, 5.4", async s =>
        {
            await s.Text(emoji[..2], fin: false);
            await s.Ping([6]);
            await s.Continuation(emoji[2..], fin: true);
        }, Pongs("pong; delivered", [[6]], Message("😀"))));
        var n = 7;
        foreach (var (name, bytes) in new (string, byte[])[]
        {
            ("a 0xFF byte", [0x61, 0xFF, 0x62]),
            ("an overlong '/' (C0 AF)", [0xC0, 0xAF]),
            ("an overlong 3-byte form (E0 80 AF)", [0xE0, 0x80, 0xAF]),
            ("a surrogate, U+D800 (ED A0 80)", [0xED, 0xA0, 0x80]),
            ("a code point above U+10FFFF (F4 90 80 80)", [0xF4, 0x90, 0x80, 0x80]),
            ("a lone continuation byte (80)", [0x61, 0x80]),
            ("a character cut at the end of the message (E2 82)", [0x61, 0xE2, 0x82]),
        })
        {
            cases.Add(new($"6.{n++}", $"A text message with {name}", rfc8, s => s.Text(bytes), Fails("fail, 1007", InvalidPayload)));
        }

        cases.Add(new($"6.{n++}", "A character cut at the end, the last fragment empty", rfc8 + " (the runtime's own client misses this one: differential D9)", async s =>
        {
            await s.Text([0x61, 0xE2, 0x82], fin: false);
            await s.Continuation([], fin: true);
        }, Fails("fail, 1007", InvalidPayload)));
        cases.Add(new($"6.{n++}", "Invalid bytes in the second of three fragments", rfc8, async s =>
        {
            await s.Text("ok "u8.ToArray(), fin: false);
            await s.Continuation([0xC3, 0x28], fin: false);
            await s.Continuation("more"u8.ToArray(), fin: true);
        }, Fails("fail, 1007", InvalidPayload)));
        cases.Add(new($"6.{n++}", "Fail fast: invalid bytes in a first fragment, the rest held back", "RFC 6455 8.1 (fail as soon as the bytes are known invalid)",
            s => FailFast(s, [0x61, 0xFF]), FailsFast("fail, 1007, before the message ends", InvalidPayload)));
        cases.Add(new($"6.{n++}", "Fail fast: a fragment ends in a prefix no continuation can complete (E0 80)", "RFC 6455 8.1, RFC 3629 (E0 needs A0-BF next)",
            s => FailFast(s, [0x61, 0xE0, 0x80]), FailsFast("fail, 1007, before the message ends", InvalidPayload))
        {
            Differs = Only(LeafKind.ClientWebSocket, (Fails("fail, 1007, once the message ends", InvalidPayload), "the platform treats E0 80 as a character still to be completed and judges it at the end of the message")),
        });
    }

    private static void CloseHandling(List<ConformanceCase> cases)
    {
        cases.Add(new("7.1", "Close 1000 without a reason", "RFC 6455 5.5.1 (echo the close)", s => s.Close(1000), Closes("reported 1000, echoed 1000", 1000, 1000)));
        cases.Add(new("7.2", "Close without a payload", "RFC 6455 7.1.5 (no status code: the close code is 1005)", s => s.ClosePayload([]), Closes("reported 1005, echoed 1000", CloseCodes.NoStatus, 1000))
        {
            Differs = Only(LeafKind.ClientWebSocket, (Closes("reported 1000, echoed 1000", 1000, 1000), "the platform reports 1000 (NormalClosure) for a close without a status code (differential D1)")),
        });
        cases.Add(new("7.3", "Close with a 1-byte payload", "RFC 6455 5.5.1 (a body starts with a 2-byte code)", s => s.ClosePayload([0x03]), Fails("fail, 1002", ProtocolError)));
        cases.Add(new("7.4", "Close 1000 with a reason", "RFC 6455 5.5.1", s => s.Close(1000, "bye ✓"), Closes("reported with its reason, echoed", 1000, 1000, "bye ✓")));
        var longReason = new string('r', 123);
        cases.Add(new("7.5", "Close with a 123-byte reason (the most that fits)", "RFC 6455 5.5", s => s.Close(1000, longReason), Closes("reported with its reason, echoed", 1000, 1000, longReason)));
        cases.Add(new("7.6", "Close with a reason that is not UTF-8", "RFC 6455 5.5.1, 8.1 (Autobahn 7.5.1 accepts 1002 or 1007)", s => s.ClosePayload([0x03, 0xE8, 0x61, 0xC3, 0x28]), Fails("fail, 1002 or 1007", [CloseCodes.ProtocolError, CloseCodes.InvalidPayload])));
        var n = 7;
        foreach (var code in new[] { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 })
        {
            cases.Add(new($"7.{n++}", $"Close with code {code}", "RFC 6455 7.4.1, 7.4.2 and the IANA registry (a code allowed on the wire)", s => s.Close(code), Closes($"reported {code}, echoed", code, code)));
        }

        foreach (var code in new[] { 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535 })
        {
            cases.Add(new($"7.{n++}", $"Close with code {code}", "RFC 6455 7.4.1, 7.4.2 (not allowed on the wire: fail)", s => s.ClosePayload([(byte)(code >> 8), (byte)code]), Fails("fail, 1002", ProtocolError)));
        }

        cases.Add(new($"7.{n++}", "A text message after the close", "RFC 6455 1.4, 5.5.1 (nothing after a close frame)", async s =>
        {
            await s.Close(1000);
            await s.Text("late");
        }, Delivers("close echoed; nothing delivered")));
        cases.Add(new($"7.{n++}", "A ping after the close", "RFC 6455 5.5.1 (no frame after a close)", async s =>
        {
            await s.Close(1000);
            await s.Ping([1]);
        }, new Expect("close echoed; no pong", (client, server) => server.Pongs.Any() ? $"the client answered a ping after the close: {server.Describe()}" : Delivers("close echoed").Check(client, server))));
        cases.Add(new($"7.{n++}", "A close frame of 126 bytes", "RFC 6455 5.5", s => s.ClosePayload([0x03, 0xE8, .. new byte[124]]), Fails("fail, 1002", ProtocolError)));
        cases.Add(new($"7.{n++}", "A fragmented close", "RFC 6455 5.5", async s =>
        {
            await s.Frame(8, false, [0x03]);
            await s.Continuation([0xE8], fin: true);
        }, Fails("fail, 1002", ProtocolError)));
    }

    private static void Limits(List<ConformanceCase> cases)
    {
        const int limit = 64 * 1024;
        var exact = Pattern(limit);
        cases.Add(new("8.1", "A message of exactly the limit (64 KiB), in 3 fragments", "RFC 6455 10.4 (an implementation-specific limit)", async s =>
        {
            await s.Binary(exact[..30_000], fin: false);
            await s.Continuation(exact[30_000..60_000], fin: false);
            await s.Continuation(exact[60_000..], fin: true);
        }, Delivers("delivered", Binary(exact))) { MaxMessageBytes = limit });
        cases.Add(new("8.2", "Limit + 1 in one frame", "RFC 6455 10.4, 7.4.1 (1009)", s => s.Binary(Pattern(limit + 1)), Fails("fail, 1009", TooBig)) { MaxMessageBytes = limit });
        cases.Add(new("8.3", "Limit + 1 in 4 KiB fragments", "RFC 6455 10.4, 7.4.1", async s =>
        {
            var message = Pattern(limit + 1);
            for (var i = 0; i < message.Length; i += 4096)
            {
                await s.Frame(i == 0 ? 2 : 0, i + 4096 >= message.Length, message[i..Math.Min(message.Length, i + 4096)]);
            }
        }, Fails("fail, 1009", TooBig)) { MaxMessageBytes = limit });
        cases.Add(new("8.4", "A frame declaring 2^40 bytes, then 2 x the limit of data", "RFC 6455 10.4 (the Pipelines leaf refuses it at the header)", async s =>
        {
            await s.Frame(2, true, [], declaredLength: 1L << 40);
            await s.Raw(new byte[2 * limit]);
            s.Ended = true;
        }, Fails("fail, 1009", TooBig)) { MaxMessageBytes = limit });
        cases.Add(new("8.5", "2 MB in 4 KiB fragments under a 1 MiB limit", "RFC 6455 10.4 (issue 26, item 8: held at most the limit)", async s =>
        {
            var fragment = Pattern(4096);
            for (var sent = 0; sent < 2_000_000; sent += 4096)
            {
                await s.Frame(sent == 0 ? 2 : 0, false, fragment);
            }

            s.Ended = true;
        }, Fails("fail, 1009", TooBig)));
        cases.Add(new("8.6", "A compressed message that inflates to 10 MB under a 64 KiB limit", "RFC 6455 10.4, RFC 7692 8 (decompression bombs)", s => s.Binary(SyncFlushed(new byte[10_000_000]), rsv: 4), Fails("fail, 1009", TooBig))
        {
            MaxMessageBytes = limit,
            Extensions = Deflate,
            Offer = new WebSocketDeflateOptions(),
        });
    }

    private static void DeflateNegotiation(List<ConformanceCase> cases)
    {
        var offer = new WebSocketDeflateOptions();
        ConformanceCase Negotiated(string id, string title, string rfc, string? answer, Expect expected, Func<CaseServer, Task>? script = null) =>
            new(id, title, rfc, script ?? (s => s.Binary(SyncFlushed(Hello), rsv: 4)), expected) { Extensions = answer, Offer = offer };

        cases.Add(Negotiated("9.1", "The server accepts permessage-deflate without parameters", "RFC 7692 7", Deflate, Delivers("compressed message delivered", Binary(Hello))));
        cases.Add(Negotiated("9.2", "The server declines (no extension in its answer), sends plain text", "RFC 7692 5 (declined: no compression)", null, Delivers("delivered", Message("plain")), s => s.Text("plain")));
        cases.Add(Negotiated("9.3", "The server declines, then sends RSV1 anyway", "RFC 6455 5.2, RFC 7692 6 (RSV1 not negotiated: fail)", null, Fails("fail, 1002", ProtocolError)));
        var msgs = new[] { Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("bid ask ", 30))), Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("trade ", 40))) };
        cases.Add(Negotiated("9.4", "server_no_context_takeover: each message compressed on its own", "RFC 7692 7.1.1.1", Deflate + "; server_no_context_takeover",
            Delivers("delivered", msgs.Select(TextBytes).ToArray()),
            async s =>
            {
                foreach (var m in msgs)
                {
                    await s.Text(SyncFlushed(m), rsv: 4);
                }
            }));
        for (var bits = 8; bits <= 15; bits++)
        {
            var windowed = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("0123456789abcdef", (1 << bits) / 16 - 1)));
            var expected = Delivers($"delivered (window {1 << bits} B)", TextBytes(windowed), TextBytes(windowed));
            var c = Negotiated($"9.{bits - 3}", $"server_max_window_bits={bits}", "RFC 7692 7.1.2.1 (the server may limit its window; the client inflates it)", $"{Deflate}; server_max_window_bits={bits}", expected, async s =>
            {
                await s.Text(SyncFlushed(windowed), rsv: 4); // a message no longer than the window, compressed on its own: no reference reaches further back
                await s.Text(SyncFlushed(windowed), rsv: 4);
            });
            cases.Add(bits == 8
                ? c with { Differs = new Dictionary<LeafKind, (Expect, string)> { [LeafKind.ClientWebSocket] = (Refused("handshake refused"), "the platform accepts server_max_window_bits 9-15 only (RFC 7692 allows 8)") } }
                : c);
        }

        cases.Add(Negotiated("9.13", "client_max_window_bits=15 in the answer (not offered)", "RFC 7692 7.1.2.2 (a value the client supports)", Deflate + "; client_max_window_bits=15", Delivers("accepted", Binary(Hello))));
        cases.Add(Negotiated("9.14", "client_max_window_bits=10 in the answer", "RFC 7692 7.1.2.2, 7.1 (fail when the client does not support the configuration)", Deflate + "; client_max_window_bits=10",
            Refused("refused: this client compresses with a 15-bit window only")) with
        {
            Differs = new Dictionary<LeafKind, (Expect, string)> { [LeafKind.ClientWebSocket] = (Delivers("accepted, compresses with a 10-bit window", Binary(Hello)), "the platform offers client_max_window_bits and can compress with a smaller window") },
        });
        var lenient = Only(LeafKind.ClientWebSocket, (Delivers("accepted; compressed message delivered", Binary(Hello)), PlatformAccepts));
        cases.Add(Negotiated("9.15", "A parameter given twice (server_no_context_takeover)", "RFC 7692 7 (multiple parameters with the same name: fail)", Deflate + "; server_no_context_takeover; server_no_context_takeover", Refused("refused")) with { Differs = lenient });
        cases.Add(Negotiated("9.16", "An unknown parameter (foo=1)", "RFC 7692 7 (a parameter not defined for a response: fail)", Deflate + "; foo=1", Refused("refused")) with { Differs = lenient });
        cases.Add(Negotiated("9.17", "server_max_window_bits=16", "RFC 7692 7.1.2.1 (8-15: an invalid value fails)", Deflate + "; server_max_window_bits=16", Refused("refused")));
        cases.Add(Negotiated("9.18", "server_max_window_bits=7", "RFC 7692 7.1.2.1", Deflate + "; server_max_window_bits=7", Refused("refused")));
        cases.Add(Negotiated("9.19", "server_max_window_bits without a value", "RFC 7692 7.1.2.1 (the response MUST give a value)", Deflate + "; server_max_window_bits", Refused("refused")));
        cases.Add(Negotiated("9.20", "permessage-deflate accepted twice", "RFC 7692 7 (one element per offer accepted)", Deflate + ", " + Deflate, Refused("refused")) with { Differs = lenient });
        var lenientPlain = Only(LeafKind.ClientWebSocket, (Delivers("accepted; plain message delivered", Message("plain")), PlatformAccepts));
        cases.Add(Negotiated("9.21", "An extension that was not offered (x-webkit-deflate-frame)", "RFC 6455 4.1, 9.1 (an extension not offered: fail)", "x-webkit-deflate-frame", Refused("refused"), s => s.Text("plain")) with { Differs = lenientPlain });
        cases.Add(new("9.22", "permessage-deflate accepted when the client offered nothing", "RFC 6455 4.1 (an extension not offered: fail)", s => s.Text("plain"), Refused("refused")) { Extensions = Deflate, Differs = lenientPlain });
    }

    private static void DeflateData(List<ConformanceCase> cases)
    {
        var offer = new WebSocketDeflateOptions();
        var platformFinal = (Drops("dropped, without a close code"), "the platform fails a stream after a final (BFINAL=1) block: 'Data received after the DEFLATE stream was terminated with BFINAL' (differential D5)");
        ConformanceCase Data(string id, string title, string rfc, Func<CaseServer, Task> script, Expect expected, string answer = Deflate) =>
            new(id, title, rfc, script, expected) { Extensions = answer, Offer = offer };

        byte[] rfcHello = [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00];
        cases.Add(Data("10.1", "RFC 7692 7.2.3.1: \"Hello\" compressed", "RFC 7692 7.2.3.1", s => s.Text(rfcHello, rsv: 4), Delivers("delivered", Message("Hello"))));
        cases.Add(Data("10.2", "RFC 7692 7.2.3.2: a second \"Hello\" sharing the window (f2 00 11 00 00)", "RFC 7692 7.2.3.2", async s =>
        {
            await s.Text(rfcHello, rsv: 4);
            await s.Text([0xF2, 0x00, 0x11, 0x00, 0x00], rsv: 4);
        }, Delivers("both delivered", Message("Hello"), Message("Hello"))));
        cases.Add(Data("10.3", "RFC 7692 7.2.3.3: \"Hello\" in a stored block", "RFC 7692 7.2.3.3", s => s.Text([0x00, 0x05, 0x00, 0xFA, 0xFF, .. Hello, 0x00], rsv: 4), Delivers("delivered", Message("Hello"))));
        cases.Add(Data("10.4", "RFC 7692 7.2.3.4: \"Hello\" in a final (BFINAL=1) block, then a second message", "RFC 7692 7.2.3.4 (issue 26, item 1)", async s =>
        {
            await s.Text([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00], rsv: 4);
            await s.Text(rfcHello, rsv: 4);
        }, Delivers("both delivered", Message("Hello"), Message("Hello"))) with { Differs = Only(LeafKind.ClientWebSocket, platformFinal) });
        cases.Add(Data("10.5", "RFC 7692 7.2.3.5: two deflate blocks in one message", "RFC 7692 7.2.3.5", s => s.Text([0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00], rsv: 4), Delivers("delivered", Message("Hello"))));
        cases.Add(Data("10.6", "RFC 7692 7.2.3.6: an empty message (0x00)", "RFC 7692 7.2.3.6", async s =>
        {
            await s.Text([0x00], rsv: 4);
            await s.Text(rfcHello, rsv: 4);
        }, Delivers("both delivered", Message(string.Empty), Message("Hello"))));
        var messages = Enumerable.Range(0, 4).Select(i => Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat($"level {i} bid 101.2{i} ", 20)))).ToArray();
        cases.Add(Data("10.7", "Every message ends with a final block (context takeover)", "RFC 7692 7.2.3.4, 7.2.1 (issue 26, item 1)", async s =>
        {
            foreach (var m in messages)
            {
                await s.Text([.. Finished(m), 0x00], rsv: 4);
            }
        }, Delivers("all delivered", messages.Select(TextBytes).ToArray())) with { Differs = Only(LeafKind.ClientWebSocket, platformFinal) });
        cases.Add(Data("10.8", "Every message ends with a final block (server_no_context_takeover)", "RFC 7692 7.2.3.4, 7.1.1.1", async s =>
        {
            foreach (var m in messages)
            {
                await s.Text([.. Finished(m), 0x00], rsv: 4);
            }
        }, Delivers("all delivered", messages.Select(TextBytes).ToArray()), Deflate + "; server_no_context_takeover") with { Differs = Only(LeafKind.ClientWebSocket, platformFinal) });
        cases.Add(Data("10.9", "A final block without the 0x00 octet after it", "RFC 7692 7.2.3.4 (the tail the client appends is then unused)", async s =>
        {
            await s.Text(Finished(messages[0]), rsv: 4);
            await s.Text(SyncFlushed(messages[1]), rsv: 4);
        }, Delivers("both delivered", TextBytes(messages[0]), TextBytes(messages[1]))) with { Differs = Only(LeafKind.ClientWebSocket, platformFinal) });
        cases.Add(Data("10.10", "A final block ends a fragment; the next fragment continues the message", "RFC 7692 7.2.1 (the next block follows the padded final one)", async s =>
        {
            await s.Text(Finished(messages[0]), fin: false, rsv: 4);
            await s.Continuation(SyncFlushed(messages[1]), fin: true);
        }, Delivers("delivered whole", TextBytes([.. messages[0], .. messages[1]]))) with { Differs = Only(LeafKind.ClientWebSocket, platformFinal) });
        cases.Add(Data("10.11", "A final block followed by more blocks inside one frame", "RFC 7692 7.2.1", s => s.Text([.. Finished(messages[0]), .. SyncFlushed(messages[1])], rsv: 4),
            Delivers("delivered whole", TextBytes([.. messages[0], .. messages[1]]))) with
        {
            Differs = new Dictionary<LeafKind, (Expect, string)>
            {
                [LeafKind.Pipelines] = (Fails("refused, 1003", [CloseCodes.UnsupportedData]), "System.IO.Compression does not say where a final block ends inside a frame; refused, never dropped (Deflate.I3)"),
                [LeafKind.ClientWebSocket] = platformFinal,
            },
        });
        cases.Add(Data("10.12", "An uncompressed message inside a deflate session", "RFC 7692 6 (RSV1 clear: not compressed)", async s =>
        {
            await s.Text(rfcHello, rsv: 4);
            await s.Text("plain");
            await s.Text(rfcHello, rsv: 4);
        }, Delivers("all delivered", Message("Hello"), Message("plain"), Message("Hello"))));
        cases.Add(Data("10.13", "An empty uncompressed message inside a deflate session", "RFC 7692 6", async s =>
        {
            await s.Binary([]);
            await s.Text(rfcHello, rsv: 4);
        }, Delivers("both delivered", Binary([]), Message("Hello"))));
        var long1 = messages[2];
        var compressed = SyncFlushed(long1);
        cases.Add(Data("10.14", "A compressed message in one-byte fragments", "RFC 7692 6.1 (compression applies to the whole message)", async s =>
        {
            for (var i = 0; i < compressed.Length; i++)
            {
                await s.Frame(i == 0 ? 1 : 0, i == compressed.Length - 1, [compressed[i]], i == 0 ? 4 : 0);
            }
        }, Delivers("delivered", TextBytes(long1))));
        cases.Add(Data("10.15", "A compressed message in three fragments, a ping between", "RFC 7692 6.1, RFC 6455 5.4", async s =>
        {
            await s.Text(compressed[..5], fin: false, rsv: 4);
            await s.Ping([7]);
            await s.Continuation(compressed[5..10], fin: false);
            await s.Continuation(compressed[10..], fin: true);
        }, Pongs("pong; delivered", [[7]], TextBytes(long1))));
        var large = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{i % 97} ")));
        cases.Add(Data("10.16", "A 90 KB text message compressed to a few KB", "RFC 7692 7.2.2", s => s.Text(SyncFlushed(large), rsv: 4), Delivers("delivered", TextBytes(large))));
        var random = Pattern(70_000);
        cases.Add(Data("10.17", "A 70 KB message in stored (uncompressed) deflate blocks", "RFC 7692 7.2.3.3", s => s.Binary(SyncFlushed(random, CompressionLevel.NoCompression), rsv: 4), Delivers("delivered", Binary(random))));
        cases.Add(Data("10.18", "A compressed ping (RSV1 on a control frame)", "RFC 7692 6.1 (RSV1 only on a data message's first frame), RFC 6455 5.2", s => s.Ping([1], rsv: 4), Fails("fail, 1002", ProtocolError)) with
        {
            Differs = Only(LeafKind.ClientWebSocket, (Pongs("pong; no failure", [[1]]), "the platform ignores RSV1 on control frames (differential D3)")),
        });
        cases.Add(Data("10.19", "A compressed close (RSV1 on a close frame)", "RFC 7692 6.1, RFC 6455 5.2", s => s.ClosePayload([0x03, 0xE8], rsv: 4), Fails("fail, 1002", ProtocolError)) with
        {
            Differs = Only(LeafKind.ClientWebSocket, (Closes("close reported and echoed", 1000, 1000), "the platform ignores RSV1 on control frames (differential D3)")),
        });
        cases.Add(Data("10.20", "RSV1 on a continuation frame", "RFC 7692 6.1 (RSV1 on the first frame only)", async s =>
        {
            await s.Text(compressed[..5], fin: false, rsv: 4);
            await s.Continuation(compressed[5..], fin: true, rsv: 4);
        }, Fails("fail, 1002", ProtocolError)));
        cases.Add(Data("10.21", "Data that does not inflate (a reserved block type)", "RFC 7692 8 (fail when a message cannot be decompressed)", s => s.Binary([0x06, 1, 2, 3], rsv: 4), Fails("fail, 1007", InvalidPayload)) with
        {
            Differs = Only(LeafKind.ClientWebSocket, (Drops("dropped, without a close code"), PlatformDrops + " (differential D4)")),
        });
        cases.Add(Data("10.22", "Compressed text that inflates to invalid UTF-8", "RFC 6455 8.1 (after decompression)", s => s.Text(SyncFlushed([0x61, 0xC3, 0x28]), rsv: 4), Fails("fail, 1007", InvalidPayload)));
        var takeover = new[] { Encoding.UTF8.GetBytes("{\"book\":\"BTC-USD\",\"bids\":[[101.25,3]],\"asks\":[[101.27,2]]}"), Encoding.UTF8.GetBytes("{\"book\":\"BTC-USD\",\"bids\":[[101.26,3]],\"asks\":[[101.27,2]]}") };
        cases.Add(Data("10.23", "Context takeover across messages, compressed by the runtime's own server", "RFC 7692 7.2.3.2", s => s.Raw(RuntimeServerFrames(new WebSocketDeflateOptions(), takeover)), Delivers("delivered", takeover.Select(TextBytes).ToArray())));
        cases.Add(Data("10.24", "server_max_window_bits=10 with context takeover, compressed by the runtime's own server", "RFC 7692 7.1.2.1, 7.2.3.2",
            s => s.Raw(RuntimeServerFrames(new WebSocketDeflateOptions { ServerMaxWindowBits = 10 }, takeover)), Delivers("delivered", takeover.Select(TextBytes).ToArray()), Deflate + "; server_max_window_bits=10"));
        cases.Add(Data("10.25", "A compressed frame with an empty payload, then a message", "RFC 7692 7.2.3.6 (an empty message is sent as 0x00; an empty payload read as an empty message)", async s =>
        {
            await s.Text([], rsv: 4);
            await s.Text(rfcHello, rsv: 4);
        }, Delivers("both delivered", Message(string.Empty), Message("Hello"))) with
        {
            Differs = Only(LeafKind.ClientWebSocket, (Drops("the empty message, then the connection drops", Message(string.Empty)), "the platform feeds its 4-byte tail for the empty payload, which opens a stored block that swallows the next message")),
        });
    }

    private static void Sending(List<ConformanceCase> cases)
    {
        cases.Add(new("11.1", "The client is asked to send a text frame that is not valid UTF-8", "RFC 6455 5.6, 8.1 (the peer would close 1007): refused by the sender, never written", s => Task.CompletedTask,
            new Expect("refused at the call; the next frame goes out", (client, server) =>
            {
                var data = server.Frames.Where(f => f.Opcode is 1 or 2).ToList();
                return data.Count == 1 && Encoding.UTF8.GetString(data[0].Payload) == "refused before"
                    ? Delivers("close echoed").Check(client, server)
                    : $"expected only the marker frame on the wire: {server.Describe()}";
            }))
        {
            Client = async connection =>
            {
                try
                {
                    await connection.Sender.SendAsync(Frame.Text(new byte[] { 0x61, 0xC3, 0x28 }), CancellationToken.None);
                    await connection.Sender.SendAsync(Frame.Text("NOT refused"), CancellationToken.None);
                }
                catch (ArgumentException)
                {
                    await connection.Sender.SendAsync(Frame.Text("refused before"), CancellationToken.None);
                }
            },
        });
        var outgoing = Enumerable.Range(0, 3).Select(_ => Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("subscribe BTC-USD ", 10)))).ToArray();
        cases.Add(new("11.2", "The client compresses its messages (context takeover)", "RFC 7692 7.2.1", s => Task.CompletedTask, InflatedByServer("the server inflates them with one inflater", outgoing, independent: false))
        {
            Extensions = Deflate,
            Offer = new WebSocketDeflateOptions(),
            Client = connection => SendAll(connection, outgoing),
        });
        cases.Add(new("11.3", "client_no_context_takeover: each message inflates on its own", "RFC 7692 7.1.1.2", s => Task.CompletedTask, InflatedByServer("each inflates alone", outgoing, independent: true))
        {
            Extensions = Deflate + "; client_no_context_takeover",
            Offer = new WebSocketDeflateOptions(),
            Client = connection => SendAll(connection, outgoing),
        });
    }

    private static async Task SendAll(ILeafConnection connection, byte[][] messages)
    {
        foreach (var m in messages)
        {
            await connection.Sender.SendAsync(Frame.Text(m), CancellationToken.None);
        }
    }

    private static Expect InflatedByServer(string text, byte[][] expected, bool independent) => new(text, (client, server) =>
    {
        var frames = server.Frames.Where(f => f.Opcode is 1 or 2).ToList();
        if (frames.Count != expected.Length || frames.Any(f => f.Rsv != 4))
        {
            return $"expected {expected.Length} compressed (RSV1) messages: {server.Describe()}";
        }

        using var feed = new MemoryStream();
        var inflater = new DeflateStream(feed, CompressionMode.Decompress, leaveOpen: true);
        try
        {
            for (var i = 0; i < frames.Count; i++)
            {
                if (independent && i > 0)
                {
                    inflater.Dispose();
                    inflater = new DeflateStream(feed, CompressionMode.Decompress, leaveOpen: true);
                }

                feed.SetLength(0);
                feed.Write(frames[i].Payload);
                feed.Write([0x00, 0x00, 0xFF, 0xFF]);
                feed.Position = 0;
                var output = new MemoryStream();
                var buffer = new byte[4096];
                int n;
                while ((n = inflater.Read(buffer)) > 0)
                {
                    output.Write(buffer, 0, n);
                }

                if (!output.ToArray().AsSpan().SequenceEqual(expected[i]))
                {
                    return $"message {i} did not inflate to what was sent{(independent ? " on its own" : string.Empty)}";
                }
            }
        }
        catch (InvalidDataException ex)
        {
            return $"the server could not inflate the client's messages ({ex.Message})";
        }
        finally
        {
            inflater.Dispose();
        }

        return Delivers("close echoed").Check(client, server);
    });

    // Sends an invalid first fragment and holds the rest back (a bounded wait) to see whether the client
    // fails before the message ends; if it does not, the message is finished so the case still ends.
    private static async Task FailFast(CaseServer s, byte[] firstFragment)
    {
        await s.Text(firstFragment, fin: false);
        if (await s.ClientClosesWithin(TimeSpan.FromSeconds(2)))
        {
            s.Ended = true;
            return;
        }

        await s.Continuation("end"u8.ToArray(), fin: true);
    }

    private static Dictionary<LeafKind, (Expect, string)> Only(LeafKind leaf, (Expect Expected, string Why) differs) => new() { [leaf] = differs };

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 31) ^ (i >> 8));
        }

        return bytes;
    }

    /// <summary>One message compressed on its own and sync-flushed, its 00 00 FF FF stripped (RFC 7692 7.2.1).</summary>
    private static byte[] SyncFlushed(byte[] message, CompressionLevel level = CompressionLevel.Optimal)
    {
        using var output = new MemoryStream();
        using var deflate = new DeflateStream(output, level, leaveOpen: true);
        deflate.Write(message);
        deflate.Flush();
        var bytes = output.ToArray();
        return bytes.Length < 4 ? [0x00] : bytes[..^4];
    }

    /// <summary>One message compressed as a finished deflate stream: its last block has BFINAL=1.</summary>
    private static byte[] Finished(byte[] message)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(message);
        }

        return output.ToArray();
    }

    /// <summary>The frames the runtime's own server-side WebSocket writes for these text messages with these deflate settings.</summary>
    private static byte[] RuntimeServerFrames(WebSocketDeflateOptions options, byte[][] messages)
    {
        using var stream = new MemoryStream();
        using var server = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, DangerousDeflateOptions = options, KeepAliveInterval = TimeSpan.Zero });
        foreach (var message in messages)
        {
            server.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).GetAwaiter().GetResult();
        }

        return stream.ToArray();
    }
}
