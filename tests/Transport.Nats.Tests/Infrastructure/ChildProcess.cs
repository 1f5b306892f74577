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
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

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
        var deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            var line = _lines.Select(l => l.Line).FirstOrDefault(match);
            if (line is not null)
            {
                return line;
            }

            var left = deadline - Environment.TickCount64;
            if (left <= 0 || (_process.HasExited && _lines.Select(l => l.Line).FirstOrDefault(match) is null && await Settled()))
            {
                throw new TimeoutException($"{Name} (pid {Pid}): no line for '{what}' within {bound} (exited: {_process.HasExited}). Output:\n{Tail(60)}");
            }

            await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(Math.Min(left, 200))));
        }

        async Task<bool> Settled()
        {
            await _process.WaitForExitAsync();
            return true;
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

    private void Pulse() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
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
