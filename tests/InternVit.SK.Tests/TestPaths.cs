namespace InternVit.SK.Tests;

/// <summary>Locations of the repository's fixtures and sources, found from the test assembly's folder.</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "InternVit.SK.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (InternVit.SK.sln) not found above " + AppContext.BaseDirectory);
    });

    public static string RepositoryRoot => Root.Value;

    public static string Fixtures => Path.Combine(RepositoryRoot, "tests", "fixtures");

    public static string TinyCheckpoint => Path.Combine(Fixtures, "internvl-tiny-a");

    private static readonly Lazy<string> TinyCheckpointCFolder = new(() =>
    {
        // tests/fixtures/internvl-tiny-c keeps model.safetensors gzipped and leaves out vocab.json and merges.txt, which
        // are byte-identical to checkpoint A's: the checkpoint is assembled once per test run in a folder of its own.
        string source = Path.Combine(Fixtures, "internvl-tiny-c");
        string folder = Path.Combine(Path.GetTempPath(), "internvl-tests-tiny-c-" + Environment.ProcessId);
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(source))
            if (!file.EndsWith(".gz", StringComparison.Ordinal)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)), overwrite: true);
        foreach (var name in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(TinyCheckpoint, name), Path.Combine(folder, name), overwrite: true);
        Gunzip(Path.Combine(source, "model.safetensors.gz"), Path.Combine(folder, "model.safetensors"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return folder;
    });

    /// <summary>Checkpoint C (InternVL3.5 layout, Qwen3 LLM with head_dim 32, tied embeddings, vocab 151936), assembled in a temp folder.</summary>
    public static string TinyCheckpointC => TinyCheckpointCFolder.Value;

    /// <summary>tests/fixtures/internvl-tiny-a-hf: checkpoint A in the Hugging Face-native layout, its two large files gzipped.</summary>
    public static string TinyHfCheckpointSource => Path.Combine(Fixtures, "internvl-tiny-a-hf");

    private static readonly Lazy<string> TinyHf = new(() =>
    {
        // Decompressed once per test run into a folder of its own: model.safetensors and tokenizer.json, the small files beside them.
        string folder = Path.Combine(Path.GetTempPath(), "internvl-tests-tiny-a-hf-" + Environment.ProcessId);
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(TinyHfCheckpointSource))
        {
            string name = Path.GetFileName(file);
            if (name.EndsWith(".gz", StringComparison.Ordinal)) Gunzip(file, Path.Combine(folder, name[..^".gz".Length]));
            else File.Copy(file, Path.Combine(folder, name), overwrite: true);
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return folder;
    });

    /// <summary>The decompressed Hugging Face-native checkpoint A (a folder shared by the test run; copy it before changing anything).</summary>
    public static string TinyHfCheckpoint => TinyHf.Value;

    private static readonly Lazy<string> TinyHfCFolder = new(() =>
    {
        // Checkpoint C rewritten into the Hugging Face-native layout by transformers' published mapping, once per test run.
        string folder = Path.Combine(Path.GetTempPath(), "internvl-tests-tiny-c-hf-" + Environment.ProcessId);
        Export.HuggingFaceLayoutWriter.Write(TinyCheckpointC, folder);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return folder;
    });

    /// <summary>Checkpoint C in the Hugging Face-native layout, written by the tests (<see cref="Export.HuggingFaceLayoutWriter"/>).</summary>
    public static string TinyHfCheckpointC => TinyHfCFolder.Value;

    /// <summary>
    /// The checkpoint folder of tiny checkpoint <paramref name="name"/>: "a" or "c" (original layout), "a-hf" or "c-hf"
    /// (the same weights in the Hugging Face-native layout; their goldens are a's and c's).
    /// </summary>
    public static string Checkpoint(string name) => name switch
    {
        "a" => TinyCheckpoint,
        "c" => TinyCheckpointC,
        "a-hf" => TinyHfCheckpoint,
        "c-hf" => TinyHfCheckpointC,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "tiny checkpoints are a, c, a-hf and c-hf"),
    };

    /// <summary>Decompresses the gzip file <paramref name="source"/> to <paramref name="destination"/>.</summary>
    public static void Gunzip(string source, string destination)
    {
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(source), System.IO.Compression.CompressionMode.Decompress);
        using var file = File.Create(destination);
        gz.CopyTo(file);
    }

    /// <summary>Resident memory after a full collection (VmRSS; on Linux Process.WorkingSet64 reads /proc/self/status).</summary>
    public static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}

/// <summary>A fresh folder under the system temp folder, deleted on dispose.</summary>
internal sealed partial class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "internvl-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Creates a FIFO (named pipe) called <paramref name="name"/> in the folder; opening it to read blocks until a writer comes.</summary>
    public string Fifo(string name)
    {
        string path = File(name);
        Assert.Equal(0, MakeFifo(path, 0x180)); // rw-------
        return path;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, int mode);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
