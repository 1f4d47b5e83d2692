namespace InternVit.SK.Generation.Sampling;

/// <summary>HF <c>TemperatureLogitsWarper</c>: divides every logit by the temperature (&gt; 0).</summary>
internal sealed class TemperatureProcessor : ILogitsProcessor
{
    private readonly float _temperature;

    public TemperatureProcessor(float temperature)
    {
        if (!float.IsFinite(temperature) || temperature <= 0) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be > 0");
        _temperature = temperature;
    }

    public void Apply(Span<float> logits)
    {
        for (int i = 0; i < logits.Length; i++) logits[i] /= _temperature;
    }

    public void Accept(int token) { }

    public void Reset() { }
}
