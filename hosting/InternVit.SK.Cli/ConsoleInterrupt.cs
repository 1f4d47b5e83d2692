using System.Runtime.InteropServices;

namespace InternVit.SK.Cli;

/// <summary>
/// Ctrl-C (SIGINT) for the <c>internvl</c> commands: the first one cancels <see cref="Token"/> so the command stops
/// cleanly (exit code 130), or, while a chat turn is running, stops only that turn. A second Ctrl-C after the command
/// was cancelled ends the process at once.
/// </summary>
internal sealed class ConsoleInterrupt : IDisposable
{
    private readonly CancellationTokenSource _command = new();
    private readonly PosixSignalRegistration _registration;
    private CancellationTokenSource? _turn;

    public ConsoleInterrupt() => _registration = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

    /// <summary>Cancelled by Ctrl-C outside a turn.</summary>
    public CancellationToken Token => _command.Token;

    /// <summary>Whether Ctrl-C cancelled the command.</summary>
    public bool Requested => _command.IsCancellationRequested;

    /// <summary>
    /// Starts a turn that Ctrl-C stops instead of the command; dispose the result when the turn ends. Its token is also
    /// cancelled with the command's.
    /// </summary>
    public CancellationTokenSource BeginTurn()
    {
        var turn = CancellationTokenSource.CreateLinkedTokenSource(_command.Token);
        Volatile.Write(ref _turn, turn);
        return turn;
    }

    /// <summary>Ends the turn begun by <see cref="BeginTurn"/>.</summary>
    public void EndTurn(CancellationTokenSource turn)
    {
        Interlocked.CompareExchange(ref _turn, null, turn);
        turn.Dispose();
    }

    private void Raise()
    {
        var turn = Volatile.Read(ref _turn);
        if (turn is not null && !turn.IsCancellationRequested) turn.Cancel();
        else _command.Cancel();
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (_command.IsCancellationRequested) return; // asked twice: let the default handling end the process
        context.Cancel = true;
        try
        {
            Raise();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _registration.Dispose();
        _command.Dispose();
    }
}
