namespace InternVit.SK.Generation.Sampling;

/// <summary>
/// One stage of the sampler chain (llama.cpp's <c>llama_sampler_i</c>, LLamaSharp's <c>ISamplingPipeline</c>): it
/// rewrites the logits of one step in place; filtered tokens become negative infinity.
/// </summary>
internal interface ILogitsProcessor
{
    /// <summary>Rewrites the logits of the current step in place.</summary>
    void Apply(Span<float> logits);

    /// <summary>Records a generated token (called once per generated token, after it was chosen).</summary>
    void Accept(int token);

    /// <summary>Forgets everything recorded, for a new sequence.</summary>
    void Reset();
}

/// <summary>The last stage of the chain: picks the token from the processed logits.</summary>
internal interface ITokenSelector
{
    /// <summary>Chooses a token id from the processed logits; may use the span as scratch.</summary>
    int Select(Span<float> logits);

    /// <summary>Returns to the state after construction (a seeded selector restarts its random sequence).</summary>
    void Reset();
}
