using System.Collections.Concurrent;
using Transport.Testing;

namespace Transport.IntegrationTests.Conformance;

/// <summary>
/// One Kestrel for the whole catalogue: each connection names its run (ws://host/case/{id}?run={token}),
/// and the handler plays that case's script, then records what the client sent.
/// </summary>
public sealed class CatalogueHost : IAsyncLifetime
{
    private static readonly TimeSpan ObserveBound = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, (ConformanceCase Case, TaskCompletionSource<ServerSide> Done)> _runs = new();
    private LoopbackServer? _server;

    internal Uri Register(ConformanceCase c, out Task<ServerSide> observed)
    {
        var token = Guid.NewGuid().ToString("N");
        var done = new TaskCompletionSource<ServerSide>(TaskCreationOptions.RunContinuationsAsynchronously);
        _runs[token] = (c, done);
        observed = done.Task;
        var root = _server!.WebSocketUri;
        return new Uri($"ws://{root.Authority}/case/{c.Id}?run={token}");
    }

    public async Task InitializeAsync() => _server = await LoopbackServer.StartAsync(PlayAsync);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private async Task PlayAsync(ServerSession session)
    {
        var token = session.Handshake.QueryString.TrimStart('?').Split('&').Select(p => p.Split('=')).FirstOrDefault(p => p[0] == "run")?[1];
        if (token is null || !_runs.TryRemove(token, out var run))
        {
            await session.RejectAsync(404);
            return;
        }

        try
        {
            var headers = run.Case.Extensions is { } extensions ? new[] { KeyValuePair.Create("Sec-WebSocket-Extensions", extensions) } : null;
            var raw = await session.AcceptRawAsync(null, headers);
            var server = new CaseServer(raw, session.Aborted);
            try
            {
                await run.Case.Server(server);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
            {
                // The client failed the connection while the script was still writing: as a case may expect.
            }

            await server.FinishAsync();
            await server.ObserveAsync(ObserveBound);
            run.Done.TrySetResult(server.Observation());
        }
        catch (Exception ex)
        {
            run.Done.TrySetException(ex);
            throw;
        }
    }
}
