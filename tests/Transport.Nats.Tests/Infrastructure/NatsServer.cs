using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Transport.Nats.Tests.Infrastructure;

/// <summary>
/// A real nats-server with JetStream on a free loopback port and a temporary store, started and stopped by
/// the test (by PID, never by name). <see cref="KillAsync"/> then <see cref="StartAsync"/> restarts it on the
/// same port and store (a restart mid-stream). Disposal kills it and deletes the store; a process-exit hook
/// kills it too if the test host is torn down first.
/// </summary>
public sealed class NatsServer : IAsyncDisposable
{
    private static readonly TimeSpan ReadyBound = TimeSpan.FromSeconds(20);
    private readonly bool _jetStream;
    private Process? _process;

    private NatsServer(int port, string store, bool jetStream)
    {
        Port = port;
        Store = store;
        _jetStream = jetStream;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillNow();
    }

    public int Port { get; }

    public string Store { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    /// <summary>The server's PID while it runs.</summary>
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>nats-server on PATH, or null (then the NATS tests fail with a message saying so).</summary>
    public static string? Binary { get; } = FindBinary();

    public static async Task<NatsServer> StartNewAsync(bool jetStream = true)
    {
        var store = Directory.CreateTempSubdirectory("transport-nats-").FullName;
        var server = new NatsServer(FreePort(), store, jetStream);
        await server.StartAsync();
        return server;
    }

    public async Task StartAsync()
    {
        Assert.True(Binary is not null, "nats-server is not installed (apt-get install nats-server; .ci/run installs it).");
        if (_process is { HasExited: false })
        {
            return;
        }

        var info = new ProcessStartInfo(Binary!)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (_jetStream)
        {
            info.ArgumentList.Add("-js");
            info.ArgumentList.Add("-sd");
            info.ArgumentList.Add(Store);
        }

        foreach (var a in new[] { "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(a);
        }

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Server is ready", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(ready.Task, exited, Task.Delay(ReadyBound));
        Assert.True(first == ready.Task, $"nats-server on port {Port} did not become ready within {ReadyBound} (exited: {process.HasExited}).");
    }

    /// <summary>Kills the server (SIGKILL) and waits for it to exit; the store stays.</summary>
    public async Task KillAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        if (!process.HasExited)
        {
            process.Kill();
        }

        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            Directory.Delete(Store, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void KillNow()
    {
        try
        {
            if (_process is { HasExited: false } p)
            {
                p.Kill();
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindBinary()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Append("/usr/sbin").Append("/usr/bin"))
        {
            var candidate = Path.Combine(dir, "nats-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>One server shared by the tests of the "nats" collection (each test uses its own feed names).</summary>
public sealed class NatsFixture : IAsyncLifetime
{
    public NatsServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await NatsServer.StartNewAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>The NATS tests run one at a time (a 2-core machine; timing bounds are asserted).</summary>
[CollectionDefinition(Name)]
public sealed class NatsCollection : ICollectionFixture<NatsFixture>
{
    public const string Name = "nats";
}
