namespace InternVit.SK.Plugin;

/// <summary>
/// Which images a host's vision tools and chat service may read, and how large: the settings the hosting package's
/// <c>InternVLOptions</c> and the Semantic Kernel <c>InternVLKernelOptions</c> share, under the same names in
/// configuration. Local files only from <see cref="AllowedImageRoots"/>, downloads only from <see cref="AllowedImageHosts"/>.
/// </summary>
public abstract class ImageAccessSettings
{
    /// <summary>Folders whose images the vision tools (paths) and the chat service (<c>file:</c> URIs) may read. Empty: no local files.</summary>
    public List<string> AllowedImageRoots { get; set; } = [];

    /// <summary>Whether http(s) image URLs may be downloaded (only from <see cref="AllowedImageHosts"/>).</summary>
    public bool AllowRemoteImages { get; set; }

    /// <summary>Host names (or <c>*.example.com</c>) images may be downloaded from, when <see cref="AllowRemoteImages"/> is on.</summary>
    public List<string> AllowedImageHosts { get; set; } = [];

    /// <summary>Whether remote images may come over plain http (https only by default).</summary>
    public bool AllowPlainHttp { get; set; }

    /// <summary>Largest image accepted, in bytes, whatever its source (a data: URI's payload included; default 20 MiB).</summary>
    public long MaxImageBytes { get; set; } = 20L << 20;

    /// <summary>Time limit for downloading one remote image (default 10 s).</summary>
    public TimeSpan ImageFetchTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Adds a line naming the setting for every image-access setting that is out of range (for the deriving options'
    /// own validation, which reports every problem at once).
    /// </summary>
    /// <param name="problems">The list the deriving options collect their problems in.</param>
    protected internal void AddImageAccessProblems(List<string> problems)
    {
        if (AllowedImageRoots is null) problems.Add("AllowedImageRoots must not be null");
        else
            foreach (string root in AllowedImageRoots)
                if (!Directory.Exists(root)) problems.Add($"AllowedImageRoots entry '{root}' is not an existing folder");
        if (AllowedImageHosts is null) problems.Add("AllowedImageHosts must not be null");
        else if (AllowRemoteImages && AllowedImageHosts.Count == 0) problems.Add("AllowRemoteImages is on but AllowedImageHosts is empty; name the hosts images may come from");
        if (MaxImageBytes < 1) problems.Add($"MaxImageBytes must be positive, not {MaxImageBytes}");
        if (ImageFetchTimeout <= TimeSpan.Zero) problems.Add($"ImageFetchTimeout must be positive, not {ImageFetchTimeout}");
    }

    /// <summary>The <see cref="ImageSourceOptions"/> these settings describe (what the deriving options hand to the image readers).</summary>
    protected internal ImageSourceOptions ToImageSources() => new()
    {
        AllowedRoots = AllowedImageRoots.ToArray(),
        MaxImageBytes = MaxImageBytes,
        AllowUrls = AllowRemoteImages,
        AllowedHosts = AllowedImageHosts.ToArray(),
        AllowPlainHttp = AllowPlainHttp,
        DownloadTimeout = ImageFetchTimeout,
    };
}
