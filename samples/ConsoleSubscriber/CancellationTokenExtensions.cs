namespace ConsoleSubscriber;

/// <summary>Awaiting a cancellation token as a task.</summary>
internal static class CancellationTokenExtensions
{
    /// <summary>A task that completes (successfully) when <paramref name="token"/> is cancelled.</summary>
    public static Task WhenCancelled(this CancellationToken token)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), done);
        return done.Task;
    }
}
