using System.Runtime.InteropServices;

namespace InternVit.SK.Onnx.Native;

/// <summary>
/// Finds and loads <c>libonnxruntime.so.1</c> once per process and exposes its function table.
/// Search order: the path given to <see cref="OrtEnvironment.Configure"/>, then the environment variable
/// <see cref="PathVariable"/>, then the application folder, then <c>.native/</c> in this folder or any parent
/// (where <c>scripts/setup.sh</c> puts it).
/// </summary>
internal static unsafe class OrtLibrary
{
    public const string PathVariable = "INTERNVL_ORT_LIBRARY";
    public const string FileName = "libonnxruntime.so.1";

    private static readonly Lock Gate = new();

    /// <summary>What was loaded, published once as one immutable object.</summary>
    private sealed record Loaded(OrtApi Api, string Path, string Version);

    private static volatile Loaded? s_loaded;

    /// <summary>Where to look first; set by <see cref="OrtEnvironment.Configure"/> before the first load.</summary>
    public static string? ExplicitPath { get; set; }

    public static bool IsLoaded => s_loaded is not null;

    /// <summary>The loaded file (loads the library on first use).</summary>
    public static string LoadedPath => Current.Path;

    /// <summary>ORT's version string (loads the library on first use).</summary>
    public static string Version => Current.Version;

    /// <summary>The function table; loads the library on first use.</summary>
    public static OrtApi Api => Current.Api;

    private static Loaded Current
    {
        get
        {
            var loaded = s_loaded;
            if (loaded is not null) return loaded;
            lock (Gate)
            {
                // A failed load is not remembered: after the user fixes the path, the next call tries again.
                return s_loaded ??= Load();
            }
        }
    }

    /// <summary>The candidate paths in search order (for diagnostics and tests).</summary>
    public static IReadOnlyList<string> Candidates(string? explicitPath, string? environmentValue, string baseDirectory)
    {
        var candidates = new List<string>();
        if (!string.IsNullOrWhiteSpace(explicitPath)) candidates.Add(Path.GetFullPath(explicitPath));
        if (!string.IsNullOrWhiteSpace(environmentValue)) candidates.Add(Path.GetFullPath(environmentValue));
        candidates.Add(Path.Combine(baseDirectory, FileName));
        for (var dir = new DirectoryInfo(baseDirectory); dir is not null; dir = dir.Parent)
            candidates.Add(Path.Combine(dir.FullName, ".native", FileName));
        return candidates;
    }

    /// <summary>The one sentence a user sees when no library is found.</summary>
    public static string NotFoundMessage(IReadOnlyList<string> tried) =>
        $"ONNX Runtime ({FileName}) was not found; run 'bash scripts/setup.sh' (it takes the library from the npm package onnxruntime-node@1.30.0), " +
        $"or set {PathVariable} to the file's path (looked in: {string.Join(", ", tried)}).";

    private static Loaded Load()
    {
        string? environmentValue = Environment.GetEnvironmentVariable(PathVariable);
        string? explicitSource = !string.IsNullOrWhiteSpace(ExplicitPath) ? "the configured path"
            : !string.IsNullOrWhiteSpace(environmentValue) ? PathVariable : null;
        var (table, path, version) = LoadFrom(Candidates(ExplicitPath, environmentValue, AppContext.BaseDirectory), explicitSource);
        return new Loaded(new OrtApi((nint*)table), path, version);
    }

    /// <summary>
    /// Loads the first existing candidate and returns its API table. When <paramref name="explicitSource"/> is set,
    /// the first candidate was chosen by the user and must exist.
    /// </summary>
    internal static (nint Table, string Path, string Version) LoadFrom(IReadOnlyList<string> candidates, string? explicitSource)
    {
        nint handle = 0;
        string? path = null;
        for (int i = 0; i < candidates.Count; i++)
        {
            string candidate = candidates[i];
            if (!File.Exists(candidate))
            {
                // An explicit choice that does not exist is an error, not something to skip silently.
                if (i == 0 && explicitSource is not null)
                    throw new OrtLibraryNotFoundException($"ONNX Runtime library '{candidate}' (from {explicitSource}) does not exist. " + NotFoundMessage(candidates));
                continue;
            }
            try
            {
                handle = NativeLibrary.Load(candidate);
                path = candidate;
                break;
            }
            catch (DllNotFoundException e)
            {
                throw new OrtLibraryNotFoundException($"ONNX Runtime library '{candidate}' exists but could not be loaded: {e.Message}", e);
            }
        }
        if (handle == 0)
        {
            // Last resort: the system loader's search path (e.g. a distribution package).
            if (!NativeLibrary.TryLoad(FileName, out handle))
                throw new OrtLibraryNotFoundException(NotFoundMessage(candidates));
            path = FileName;
        }

        if (!NativeLibrary.TryGetExport(handle, "OrtGetApiBase", out nint getApiBase))
        {
            NativeLibrary.Free(handle);
            throw new OrtLibraryNotFoundException($"'{path}' is not ONNX Runtime: it has no OrtGetApiBase export.");
        }

        // const OrtApiBase* OrtGetApiBase(void); struct OrtApiBase { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
        var apiBase = ((delegate* unmanaged<nint*>)getApiBase)();
        var getApi = (delegate* unmanaged<uint, nint*>)apiBase[0];
        var getVersion = (delegate* unmanaged<byte*>)apiBase[1];
        string version = Marshal.PtrToStringUTF8((nint)getVersion()) ?? "?";
        nint* table = getApi(OrtApi.RequestedVersion);
        if (table == null)
        {
            NativeLibrary.Free(handle);
            throw new OrtLibraryNotFoundException(
                $"'{path}' is ONNX Runtime {version}, which does not offer API version {OrtApi.RequestedVersion}; use 1.20 or newer (scripts/setup.sh installs 1.30).");
        }
        return ((nint)table, path!, version);
    }
}
