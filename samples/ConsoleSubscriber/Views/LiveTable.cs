using Spectre.Console;
using Spectre.Console.Rendering;

namespace ConsoleSubscriber.Views;

/// <summary>
/// The live (non-plain) display of the pool and legs modes: one renderable redrawn on a timer until
/// the token is cancelled. Both runners share it; only what they render differs.
/// </summary>
internal static class LiveTable
{
    /// <summary>Redraws <paramref name="render"/>'s result every <paramref name="every"/> until cancelled.</summary>
    /// <param name="render">Builds the current view (called on each tick).</param>
    /// <param name="every">The refresh period.</param>
    /// <param name="time">The clock the timer runs on.</param>
    /// <param name="cancellationToken">Ends the display (not an error).</param>
    /// <returns>A task that completes when <paramref name="cancellationToken"/> is cancelled.</returns>
    public static Task ShowAsync(Func<IRenderable> render, TimeSpan every, TimeProvider time, CancellationToken cancellationToken) =>
        AnsiConsole.Console.Live(render()).AutoClear(false).StartAsync(async ctx =>
        {
            using var timer = new PeriodicTimer(every, time);
            try
            {
                while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                {
                    ctx.UpdateTarget(render());
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
}
