using System.Diagnostics;

namespace Transport.IntegrationTests.Interop;

/// <summary>
/// An independent WebSocket server in a child process (python3-websockets or the npm ws package,
/// scripts in tests/Interop), started on a free loopback port. Its stdout lines ("READY port",
/// "CLOSE code", "PONGS n") are what the tests wait on, with bounds.
/// </summary>
internal sealed class InteropServer : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _changed = new(0);

    private InteropServer(Process process) => _process = process;

    public int Port { get; private set; }

    public Uri Uri(string path) => new($"ws://127.0.0.1:{Port}{path}");

    /// <summary>
    /// A URI on the listener of a profile the server was started with (<c>--profile NAME=OPTION,...</c>:
    /// one more listener with those options, announced as "LISTEN NAME PORT" before "READY").
    /// </summary>
    public Uri Uri(string profile, string path)
    {
        string? line;
        lock (_lock)
        {
            line = _lines.FirstOrDefault(l => l.StartsWith($"LISTEN {profile} ", StringComparison.Ordinal));
        }

        var port = line is null
            ? throw new InvalidOperationException($"The interop server announced no listener for profile '{profile}'.")
            : int.Parse(line[$"LISTEN {profile} ".Length..], System.Globalization.CultureInfo.InvariantCulture);
        return new($"ws://127.0.0.1:{port}{path}");
    }

    /// <summary>Starts the server; <paramref name="arguments"/> are its command-line options (deflate settings, see the scripts).</summary>
    public static async Task<InteropServer> StartAsync(InteropKind kind, params string[] arguments)
    {
        var missing = InteropAvailability.Missing(kind);
        if (missing is not null)
        {
            // Reached only when CI=true (otherwise the test is skipped at discovery): fail, loudly.
            throw new InvalidOperationException($"The {kind} interop server is not available: {missing}. .ci/run installs it.");
        }

        var root = InteropAvailability.RepoRoot;
        var start = kind == InteropKind.PythonWebsockets
            ? new ProcessStartInfo(InteropAvailability.Python, ["-u", Path.Combine(root, "tests", "Interop", "python", "server.py"), .. arguments])
            : new ProcessStartInfo("node", [Path.Combine(root, "tests", "Interop", "node", "server.js"), .. arguments]) { WorkingDirectory = Path.Combine(root, "tests", "Interop", "node") };
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start the {kind} server.");
        var server = new InteropServer(process);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data is null ? null : "STDERR " + e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var ready = await server.WaitForLineAsync(l => l.StartsWith("READY ", StringComparison.Ordinal));
            server.Port = int.Parse(ready["READY ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits (bounded) for a stdout line matching <paramref name="match"/>, seen before or after the call.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match)
    {
        using var bound = new CancellationTokenSource(Bound);
        while (true)
        {
            lock (_lock)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return line;
                }
            }

            try
            {
                await _changed.WaitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                string seen;
                lock (_lock)
                {
                    seen = string.Join(" | ", _lines);
                }

                throw new TimeoutException($"The interop server printed no matching line within {Bound}. Output: {seen}");
            }
        }
    }

    /// <summary>The close code the server saw from the client of its next finished connection.</summary>
    public async Task<int?> ClientCloseCodeAsync()
    {
        var line = await WaitForLineAsync(l => l.StartsWith("CLOSE ", StringComparison.Ordinal));
        return int.TryParse(line["CLOSE ".Length..], System.Globalization.CultureInfo.InvariantCulture, out var code) ? code : null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().WaitAsync(Bound);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _lines.Add(line);
        }

        _changed.Release();
    }
}

/// <summary>The independent server implementations.</summary>
public enum InteropKind
{
    /// <summary>python3-websockets (Debian package).</summary>
    PythonWebsockets,

    /// <summary>The npm ws package (tests/Interop/node, installed with npm ci).</summary>
    NodeWs,
}

/// <summary>Whether each interop server can run here, decided once.</summary>
internal static class InteropAvailability
{
    private static readonly Lazy<string?> PythonMissing = new(() =>
        Run(Python, "-c \"import websockets\"") ? null : "python3-websockets is not installed (apt-get install -y python3-websockets)");

    // On a fresh clone node_modules is missing: with node and npm present, the fixture installs the
    // pinned ws package itself (npm ci, bounded), so the README's one test command runs these tests too.
    private static readonly Lazy<string?> NodeMissing = new(() =>
        !Run("node", "--version") ? "node is not installed"
        : WsInstalled ? null
        : !Run("npm", "--version") ? "the ws package is not installed and npm is missing (npm ci in tests/Interop/node)"
        : NpmCi() is { } failure ? $"the ws package is not installed: npm ci in tests/Interop/node failed ({failure})"
        : null);

    /// <summary>How long the fixture's own <c>npm ci</c> may take (a cold cache on a slow mirror).</summary>
    public static readonly TimeSpan NpmCiBound = TimeSpan.FromMinutes(3);

    private static string NodeFolder => Path.Combine(RepoRoot, "tests", "Interop", "node");

    private static bool WsInstalled => Directory.Exists(Path.Combine(NodeFolder, "node_modules", "ws"));

    // Debian's python3-websockets lives beside /usr/bin/python3, which may not be the python3 on PATH.
    public static string Python => File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Transport.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("Transport.sln not found above the test assembly.");
        }
    }

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? Missing(InteropKind kind) => kind == InteropKind.PythonWebsockets ? PythonMissing.Value : NodeMissing.Value;

    // npm ci of the pinned lock file, once per machine: a named mutex keeps two test processes from
    // installing over each other. Returns null on success, else what went wrong.
    private static string? NpmCi()
    {
        using var gate = new Mutex(initiallyOwned: false, "Transport.IntegrationTests.NpmCi");
        var owned = false;
        try
        {
            try
            {
                owned = gate.WaitOne(NpmCiBound);
            }
            catch (AbandonedMutexException)
            {
                owned = true; // the other installer died; ours starts over
            }

            if (WsInstalled)
            {
                return null; // another process installed it meanwhile
            }

            return RunNpmCi();
        }
        finally
        {
            if (owned)
            {
                gate.ReleaseMutex();
            }
        }
    }

    private static string? RunNpmCi()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund", "--silent", "--fetch-retries=2"])
            {
                WorkingDirectory = NodeFolder,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return "npm did not start";
            }

            var errors = process.StandardError.ReadToEndAsync();
            _ = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(NpmCiBound))
            {
                process.Kill(entireProcessTree: true);
                return $"it ran over {NpmCiBound.TotalMinutes} minutes";
            }

            var last = errors.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
            return process.ExitCode == 0 && WsInstalled ? null : $"exit {process.ExitCode}: {last ?? "no output"}";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return ex.Message;
        }
    }

    private static bool Run(string file, string arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (process is null)
            {
                return false;
            }

            process.WaitForExit(10_000);
            return process.HasExited && process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}

/// <summary>
/// A theory over an interop server: skipped, with the reason, when the server is missing locally;
/// never skipped when CI=true (the test then fails saying what is missing).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class InteropTheoryAttribute : TheoryAttribute
{
    public InteropTheoryAttribute(InteropKind kind)
    {
        if (!InteropAvailability.IsCi && InteropAvailability.Missing(kind) is { } missing)
        {
            Skip = missing;
        }
    }
}

/// <summary>A fact over an interop server, skipped or failed as <see cref="InteropTheoryAttribute"/> says.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class InteropFactAttribute : FactAttribute
{
    public InteropFactAttribute(InteropKind kind)
    {
        if (!InteropAvailability.IsCi && InteropAvailability.Missing(kind) is { } missing)
        {
            Skip = missing;
        }
    }
}
