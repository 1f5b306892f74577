using System.Text;

namespace Samples.Tests.Console;

/// <summary>A TextWriter that keeps every line and lets a test wait (bounded) for one to appear.</summary>
internal sealed class LineCapture : TextWriter
{
    private readonly object _gate = new();
    private readonly StringBuilder _all = new(); // guarded by _gate
    private TaskCompletionSource _line = new(TaskCreationOptions.RunContinuationsAsynchronously); // guarded by _gate

    public override Encoding Encoding => Encoding.UTF8;

    public string Text { get { lock (_gate) return _all.ToString(); } }

    public override void Write(char value)
    {
        TaskCompletionSource? fire = null;
        lock (_gate)
        {
            _all.Append(value);
            if (value == '\n') (fire, _line) = (_line, new(TaskCreationOptions.RunContinuationsAsynchronously));
        }
        fire?.TrySetResult();
    }

    public override void Write(string? value)
    {
        foreach (var c in value ?? string.Empty) Write(c);
    }

    public Task WaitForAsync(Func<string, bool> condition, string what) => WaitForAsync(condition, what, TimeSpan.FromSeconds(30));

    public async Task WaitForAsync(Func<string, bool> condition, string what, TimeSpan within)
    {
        using var bound = new CancellationTokenSource(within);
        while (true)
        {
            Task signal;
            string text;
            lock (_gate) (signal, text) = (_line.Task, _all.ToString());
            if (condition(text)) return;
            try
            {
                await signal.WaitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out waiting for {what}. Output so far:\n{text}");
            }
        }
    }
}
