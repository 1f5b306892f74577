using System.Collections.Concurrent;
using System.Diagnostics;

namespace Transport.Nats.Tests.Infrastructure;

/// <summary>
/// A sample run as a child process (<c>dotnet X.dll args</c>) whose stdout lines are collected with their
/// arrival time; <see cref="Kill"/> is a real SIGKILL. Disposal kills it if it still runs.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<(long At, string Line)> _lines = new();

    private ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public IReadOnlyList<string> Lines => _lines.Select(l => l.Line).ToList();

    public IReadOnlyList<(long At, string Line)> TimedLines => _lines.ToList();

    public string Output => string.Join('\n', Lines);

    /// <summary>Pulsed at every line received and at the exit.</summary>
    public Pulse Changed { get; } = new();

    /// <summary>Starts samples/<paramref name="sample"/> (built with the tests) with <paramref name="args"/>.</summary>
    public static ChildProcess Start(string sample, params string[] args)
    {
        var dll = Samples.Dll(sample);
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, sample);
        process.OutputDataReceived += (_, e) => child.Add(e.Data);
        process.ErrorDataReceived += (_, e) => child.Add(e.Data is null ? null : "stderr: " + e.Data);
        process.Exited += (_, _) => child.Pulse();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits for a line matching <paramref name="match"/> (already received ones included).</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan bound, string what)
    {
        string? found = null;
        await WaitUntilAsync(() => (found = _lines.Select(l => l.Line).FirstOrDefault(match)) is not null, bound, $"a line for '{what}'");
        return found!;
    }

    /// <summary>
    /// Waits until <paramref name="condition"/> holds, re-checked at every line and at the exit (no timer); once the
    /// process has exited and its output is drained, a condition still false fails at once.
    /// </summary>
    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan bound, string what)
    {
        using var timeout = new CancellationTokenSource(bound);
        while (true)
        {
            var next = Changed.Next;
            if (condition())
            {
                return;
            }

            if (_process.HasExited)
            {
                // Waits for the end of its redirected output too: every line is in.
                await _process.WaitForExitAsync(CancellationToken.None);
                if (condition())
                {
                    return;
                }

                throw new TimeoutException($"{Name} (pid {Pid}) exited ({_process.ExitCode}) before {what}. Output:\n{Tail(60)}");
            }

            try
            {
                await next.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                if (condition())
                {
                    return;
                }

                throw new TimeoutException($"{Name} (pid {Pid}): not {what} within {bound} (exited: {_process.HasExited}). Output:\n{Tail(60)}");
            }
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan bound)
    {
        await _process.WaitForExitAsync().WaitAsync(bound);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no handler runs, sockets are closed by the kernel.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }
    }

    /// <summary>SIGTERM: a graceful stop.</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill?.WaitForExit(5000);
        }
    }

    public string Tail(int lines) => string.Join('\n', Lines.TakeLast(lines));

    public async ValueTask DisposeAsync()
    {
        try
        {
            Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
        }

        _process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            _lines.Enqueue((Environment.TickCount64, line));
            Pulse();
        }
    }

    private void Pulse() => Changed.Set();
}

/// <summary>Where the samples' builds are: the same configuration as this test assembly.</summary>
public static class Samples
{
    public static string Root { get; } = FindRoot();

    public static string Dll(string sample)
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var dll = Path.Combine(Root, "samples", sample, "bin", configuration, "net10.0", sample + ".dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project builds it (ProjectReference).");
        return dll;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Transport.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Transport.sln not found above " + AppContext.BaseDirectory);
    }
}
