using System.Diagnostics;
using System.Reflection;

namespace Transport.Benchmarks.Server;

/// <summary>
/// Starts this benchmark executable again as a child (<c>--child kind args...</c>): the idle-connection
/// scenario runs its server and each client in their own processes, so the client's heap, working set,
/// threads and CPU are the client's alone (an in-process server's per-connection buffers would be counted
/// with it) and each client starts from a fresh runtime. Standard output lines are the protocol.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ChildProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public static ChildProcess Start(params string[] args)
    {
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };

        // Run by the apphost (bin/.../Transport.Benchmarks) or by `dotnet Transport.Benchmarks.dll`.
        var self = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            info.FileName = self;
            info.ArgumentList.Add(Assembly.GetExecutingAssembly().Location);
        }
        else
        {
            info.FileName = self;
        }

        info.ArgumentList.Add("--child");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return new ChildProcess(Process.Start(info) ?? throw new InvalidOperationException("Could not start the child process."));
    }

    /// <summary>Reads output lines until one starts with <paramref name="prefix"/>; returns the rest of it.</summary>
    public async Task<string> ReadUntilAsync(string prefix, CancellationToken cancellationToken)
    {
        while (true)
        {
            var line = await _process.StandardOutput.ReadLineAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"The child process ended (exit code {(_process.HasExited ? _process.ExitCode : -1)}) before printing '{prefix}'.");
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line[prefix.Length..].Trim();
            }

            Console.WriteLine($"  [child {_process.Id}] {line}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close(); // children exit when their input closes
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                try
                {
                    await _process.WaitForExitAsync(bound.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
