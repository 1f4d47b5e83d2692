namespace InternVit.SK.Generation;

/// <summary>
/// What a model's two caches hold at one moment, against their bounds (<see cref="InternVLModelOptions.ImageCacheBytes"/>,
/// <see cref="InternVLModelOptions.PromptCacheEntries"/>, <see cref="InternVLModelOptions.PromptCacheBytes"/>): what
/// <c>internvl serve</c> reports under <c>/health</c>. The held bytes never exceed the bounds; a bound of 0 means that
/// cache is off.
/// </summary>
/// <param name="Images">Images whose features are held.</param>
/// <param name="ImageBytes">Bytes of those features.</param>
/// <param name="ImageMaxBytes">The image-feature cache's bound in bytes.</param>
/// <param name="Prompts">KV caches kept for prompt reuse (not counting those in use by running requests).</param>
/// <param name="PromptBytes">Bytes of those KV caches, each counted at its capacity.</param>
/// <param name="PromptMaxEntries">The prompt cache's bound in entries.</param>
/// <param name="PromptMaxBytes">The prompt cache's bound in bytes.</param>
public readonly record struct CacheUsage(int Images, long ImageBytes, long ImageMaxBytes, int Prompts, long PromptBytes, int PromptMaxEntries, long PromptMaxBytes);
