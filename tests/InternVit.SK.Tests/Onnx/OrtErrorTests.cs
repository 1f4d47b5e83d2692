using InternVit.SK.Export;
using InternVit.SK.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Tests.Onnx;

/// <summary>Every failure surfaces as <see cref="OrtException"/> with ORT's code, and the session stays usable.</summary>
public sealed class OrtErrorTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly OrtSession _session;

    public OrtErrorTests()
    {
        string path = _dir.File("add.onnx");
        using (var g = new OnnxGraphBuilder(path, "add"))
        {
            string x = g.Input("x", OnnxDataType.Float, 2, 3);
            g.Output(g.Add("/add", x, g.Initializer<float>("one", new float[] { 1 }, 1)), "y", OnnxDataType.Float, 2, 3);
            g.Save();
        }
        _session = OrtSession.Create(path);
    }

    public void Dispose()
    {
        _session.Dispose();
        _dir.Dispose();
    }

    private void AssertStillWorks()
    {
        using var x = TestTensors.Of(new float[6], 2, 3);
        var outputs = _session.Run([("x", x)], ["y"]);
        using var y = outputs[0];
        Assert.All(y.ToArray<float>(), v => Assert.Equal(1f, v));
    }

    [Fact]
    public void Missing_model_file()
    {
        var e = Assert.Throws<OrtException>(() => OrtSession.Create(_dir.File("absent.onnx")));
        Assert.Equal(OrtErrorCode.NoSuchFile, e.Code);
        Assert.Contains("absent.onnx", e.Message);
    }

    [Fact]
    public void File_that_is_not_a_model()
    {
        string path = _dir.File("garbage.onnx");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF, 0x01, 0x02, 0x03, 0x04]);
        var e = Assert.Throws<OrtException>(() => OrtSession.Create(path));
        Assert.Equal(OrtErrorCode.InvalidProtobuf, e.Code);
    }

    /// <summary>Run calls that ORT refuses: input name, output name, shape, element type (the model takes x: float[2,3] → y).</summary>
    public static TheoryData<string, string, string, string?> BadRuns => new()
    {
        // case, input name, output name, fragment of ORT's message (null: code only)
        { "wrong-input-name", "pixel_values", "y", "pixel_values" },
        { "wrong-output-name", "x", "logits", null },
        { "wrong-shape", "x", "y", "dimensions" },
        { "wrong-element-type", "x", "y", "type" },
    };

    [Theory]
    [MemberData(nameof(BadRuns))]
    public void Bad_run_is_InvalidArgument_and_the_session_still_works(string kind, string inputName, string outputName, string? fragment)
    {
        using var x = kind switch
        {
            "wrong-shape" => TestTensors.Of(new float[8], 2, 4),
            "wrong-element-type" => TestTensors.Of(new long[6], 2, 3),
            _ => TestTensors.Of(new float[6], 2, 3),
        };
        var e = Assert.Throws<OrtException>(() => _session.Run([(inputName, x)], [outputName]));
        Assert.Equal(OrtErrorCode.InvalidArgument, e.Code);
        if (fragment is not null) Assert.Contains(fragment, e.NativeMessage);
        AssertStillWorks();
    }

    [Fact]
    public void Cancelled_token_stops_before_running()
    {
        using var x = TestTensors.Of(new float[6], 2, 3);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => _session.Run([("x", x)], ["y"], cts.Token));
        AssertStillWorks();
    }

    /// <summary>400 chained 512x512 MatMuls (~107 GFLOP): about two seconds on one thread, so it can be interrupted.</summary>
    private OrtSession LongSession()
    {
        // ~4-8 s on one thread of the 2-core machines, so that a cancellation a moment after the start always finds it running.
        const int n = 512, depth = 1600;
        string path = _dir.File("long.onnx");
        using (var g = new OnnxGraphBuilder(path, "long"))
        {
            string h = g.Input("x", OnnxDataType.Float, n, n);
            string w = g.Initializer<float>("w", Reference.RandomFloats(n * n, 21, scale: 0.04), n, n);
            for (int i = 0; i < depth; i++) h = g.MatMul($"/mm{i}", h, w);
            g.Output(h, "y", OnnxDataType.Float, n, n);
            g.Save();
        }
        return OrtSession.Create(path, new OrtSessionOptions { IntraOpThreads = 1 });
    }

    [Fact]
    public void Cancelling_during_a_run_terminates_it()
    {
        using var session = LongSession();
        using var x = TestTensors.Of(Reference.RandomFloats(512 * 512, 22), 512, 512);
        using var cts = new CancellationTokenSource();
        // Cancelled from a thread of its own: a CancellationTokenSource timer fires on the thread pool, which the suite's
        // parallel tests can starve for longer than the run lasts (seen once in CI: the run finished uncancelled).
        var canceller = new Thread(() =>
        {
            Thread.Sleep(300);
            cts.Cancel();
        }) { IsBackground = true };
        canceller.Start();
        var e = Assert.Throws<OperationCanceledException>(() => session.Run([("x", x)], ["y"], cts.Token));
        canceller.Join();
        Assert.Equal(cts.Token, e.CancellationToken);
        Assert.Contains("terminate", Assert.IsType<OrtException>(e.InnerException).NativeMessage);
        AssertStillWorks();
    }

    [Fact]
    public async Task Disposing_session_and_input_during_a_run_is_safe()
    {
        var session = LongSession();
        var x = TestTensors.Of(Reference.RandomFloats(512 * 512, 23), 512, 512);
        using var cts = new CancellationTokenSource();
        using var started = new ManualResetEventSlim();
        var run = Task.Run(() =>
        {
            started.Set();
            return session.Run([("x", x)], ["y"], cts.Token);
        });
        started.Wait();
        // A blocking wait, not Task.Delay: its timer fires on the thread pool, which the parallel suite can starve until
        // the run has ended (seen once in CI: no exception, the run finished before the cancellation).
        Thread.Sleep(300);
        // The run holds references: the session, its native names and the pinned input stay valid until it ends.
        session.Dispose();
        x.Dispose();
        cts.Cancel();
        await Assert.ThrowsAsync<OperationCanceledException>(() => run);
        using var y = TestTensors.Of(new float[512 * 512], 512, 512);
        Assert.Throws<ObjectDisposedException>(() => session.Run([("x", y)], ["y"]));
    }

    [Fact]
    public void Disposed_session_refuses_use_and_a_disposed_value_is_an_OrtException()
    {
        string path = _dir.File("add.onnx");
        var session = OrtSession.Create(path);
        session.Dispose();
        session.Dispose(); // twice is harmless
        using var x = TestTensors.Of(new float[6], 2, 3);
        Assert.Throws<ObjectDisposedException>(() => session.Run([("x", x)], ["y"]));
        var t = TestTensors.Of(new float[6], 2, 3);
        t.Dispose();
        // A released OrtValue is ORT's to refuse (a null handle), and its error arrives as the engine's one error type.
        var e = Assert.Throws<OrtException>(() => _session.Run([("x", t)], ["y"]));
        Assert.Equal(OrtErrorCode.InvalidArgument, e.Code);
        AssertStillWorks();
    }
}
