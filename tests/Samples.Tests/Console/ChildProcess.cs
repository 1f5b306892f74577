using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Samples.Tests.Console;

/// <summary>
/// A sample run as its own process (<c>dotnet Sample.dll args</c>, the build this test project
/// copied next to itself), its stdout and stderr captured line by line, so a test can wait for a
/// line, send it a real POSIX signal and read its exit code. Disposing kills what is still running.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    public static readonly TimeSpan ExitBound = TimeSpan.FromSeconds(60);

    private readonly Process _process;

    private ChildProcess(Process process)
    {
        _process = process;
    }

    public LineCapture Output { get; } = new();

    public LineCapture Error { get; } = new();

    public int Id => _process.Id;

    /// <summary>
    /// Starts <c>dotnet {sample}.dll args</c> from the sample's own output folder (built by the project
    /// reference, same configuration): its deps.json matches that folder, the copy next to the tests does not.
    /// </summary>
    public static ChildProcess Start(string sample, params string[] args)
    {
        // .../tests/Samples.Tests/bin/{Configuration}/{tfm}/ -> .../samples/{sample}/bin/{Configuration}/{tfm}/
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = tfm.Parent!;
        var repository = configuration.Parent!.Parent!.Parent!.Parent!;
        var folder = Path.Combine(repository.FullName, "samples", sample, "bin", configuration.Name, tfm.Name);
        var assembly = Path.Combine(folder, sample + ".dll");
        if (!File.Exists(assembly)) throw new FileNotFoundException($"The sample is not built where expected: {assembly}");

        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // not a terminal: the subscriber picks its plain view
            UseShellExecute = false,
            WorkingDirectory = folder,
        };
        start.ArgumentList.Add(assembly);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) child.Output.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) child.Error.WriteLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Sends <paramref name="signal"/> (as <c>kill -TERM pid</c> does).</summary>
    public void Signal(PosixSignal signal) => PosixSignals.Send(_process.Id, signal);

    /// <summary>Waits (bounded) for the process to exit and returns its exit code, with all output read.</summary>
    public async Task<int> WaitForExitAsync()
    {
        using var bound = new CancellationTokenSource(ExitBound);
        try
        {
            await _process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The process did not exit within {ExitBound}. Output so far:\n{Output.Text}\nstderr:\n{Error.Text}");
        }

        return _process.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }
}

/// <summary>Sends a real POSIX signal to a process (Linux and macOS), as <c>kill -TERM pid</c> does.</summary>
internal static class PosixSignals
{
    public static void Send(int pid, PosixSignal signal)
    {
        var number = signal switch
        {
            PosixSignal.SIGINT => 2,
            PosixSignal.SIGTERM => 15,
            _ => throw new ArgumentOutOfRangeException(nameof(signal), signal, "SIGINT or SIGTERM."),
        };
        if (Kill(pid, number) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {number}) failed: errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
