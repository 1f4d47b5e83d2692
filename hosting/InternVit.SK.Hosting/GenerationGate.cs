namespace InternVit.SK.Hosting;

/// <summary>
/// The bounded queue in front of the model: at most <c>MaxConcurrentGenerations</c> requests generate at once and at
/// most <c>MaxQueuedRequests</c> more wait; anything beyond is turned away at once instead of piling up.
/// </summary>
internal sealed class GenerationGate(int concurrent, int queued) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(concurrent, concurrent);
    private readonly int _capacity = concurrent + queued;
    private int _admitted;

    /// <summary>Waits for a generation slot; null when the queue is full.</summary>
    public async Task<IDisposable?> EnterAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _admitted) > _capacity)
        {
            Interlocked.Decrement(ref _admitted);
            return null;
        }
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _admitted);
            throw;
        }
        return new Lease(this);
    }

    public void Dispose() => _slots.Dispose();

    private sealed class Lease(GenerationGate gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            gate._slots.Release();
            Interlocked.Decrement(ref gate._admitted);
        }
    }
}
