using InternVit.SK.Generation;

namespace InternVit.SK.Tests.Generation;

/// <summary>Stop strings found across streamed pieces of text.</summary>
public class StopSequenceMatcherTests
{
    /// <summary>stop strings, pieces pushed, what each push returns, the push that stops (-1: none), what Flush returns.</summary>
    public static TheoryData<string, string?[], string[], string[], int, string> Streams() => new()
    {
        { "split across pieces", ["<|im_end|>"], ["Hello", "<|im", "_end|>", "more"], ["Hello", "", "", ""], 2, "" },
        { "prefix that is not a stop is released", ["<|im_end|>"], ["a<|i", "m_start", "b"], ["a", "<|im_start", "b"], -1, "" },
        { "text before the stop in the same piece", ["<|im_end|>"], ["one two<|im_end|>three"], ["one two"], 0, "" },
        { "stop at the very start", ["<|im_end|>"], ["<|im_end|>", "x"], ["", ""], 0, "" },
        { "flush releases held text", ["<|im_end|>"], ["Hi <|im"], ["Hi "], -1, "<|im" },
        { "overlapping prefixes, the longer one completes", ["</s>", "</stop>"], ["x</s", "t", "op>y"], ["x", "", ""], 2, "" },
        { "overlapping prefixes, the shorter one completes", ["</s>", "</stop>"], ["x</s", ">y"], ["x", ""], 1, "" },
        { "overlapping prefixes, neither completes", ["</s>", "</stop>"], ["x</st", "ar"], ["x", "</star"], -1, "" },
        { "two stop strings, first start wins", ["cd", "bcd"], ["abcd"], ["a"], 0, "" },
        { "two different stops", ["<|im_end|>", "<|endoftext|>"], ["A<|", "end", "oftext|>"], ["A", "", ""], 2, "" },
        { "held tail shrinks to a shorter prefix", ["aab"], ["aa", "a", "c"], ["", "a", "aac"], -1, "" },
        { "empty stop strings are ignored", ["", null], ["<|im", "_end|>"], ["<|im", "_end|>"], -1, "" },
        { "no stop strings", [], ["a", "", "b"], ["a", "", "b"], -1, "" },
    };

    [Theory]
    [MemberData(nameof(Streams))]
    public void Emits_what_is_safe_and_stops_before_the_stop_string(string name, string?[] stops, string[] pieces, string[] expected, int stopsAt, string flushed)
    {
        _ = name;
        var matcher = new StopSequenceMatcher(stops);
        for (int i = 0; i < pieces.Length; i++)
        {
            Assert.Equal(expected[i], matcher.Push(pieces[i], out bool stopped));
            Assert.Equal(stopsAt >= 0 && i >= stopsAt, stopped);
        }
        Assert.Equal(stopsAt >= 0, matcher.Stopped);
        Assert.Equal(flushed, matcher.Flush());
        Assert.Equal("", matcher.Flush());
    }

    [Fact]
    public void Passes_the_piece_itself_through_when_nothing_is_held()
    {
        string piece = "plain text";
        Assert.Same(piece, new StopSequenceMatcher(null).Push(piece, out _));
        Assert.Same(piece, new StopSequenceMatcher(["<|im_end|>"]).Push(piece, out _));
    }

    [Fact]
    public void Random_streams_never_emit_a_stop_string_and_emit_exactly_the_text_before_it()
    {
        string[] stops = ["<|a", "b|", "a<|b>", "||"];
        var random = new Random(2024);
        const string Alphabet = "ab<|>";
        for (int trial = 0; trial < 2000; trial++)
        {
            string text = new(Enumerable.Range(0, random.Next(0, 24)).Select(_ => Alphabet[random.Next(Alphabet.Length)]).ToArray());
            var pieces = new List<string>();
            for (int at = 0; at < text.Length;)
            {
                int length = Math.Min(random.Next(0, 5), text.Length - at);
                pieces.Add(text.Substring(at, length));
                at += length;
            }

            var matcher = new StopSequenceMatcher(stops);
            string emitted = "";
            string expected = text;
            bool stopped = false;
            string seen = "";
            foreach (string piece in pieces)
            {
                emitted += matcher.Push(piece, out stopped);
                seen += piece;
                // Independent reference: after each piece, the earliest occurrence of any stop in all text so far.
                int first = stops.Select(s => seen.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                if (first >= 0)
                {
                    expected = seen[..first];
                    Assert.True(stopped, $"trial {trial}: '{seen}' holds a stop string");
                    break;
                }
                Assert.False(stopped);
            }
            emitted += matcher.Flush();
            Assert.Equal(expected, emitted);
            foreach (string stop in stops) Assert.DoesNotContain(stop, emitted, StringComparison.Ordinal);
        }
    }
}
